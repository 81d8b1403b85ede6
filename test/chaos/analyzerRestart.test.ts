/**
 * The analyzer SIGKILLed mid-window and restarted (shared Kafka and Redis, but a topic, consumer
 * group, control-plane prefix and report prefix of this test's own; only the analyzer process is
 * killed). A real sidecar process shares the control plane.
 *
 * - No stale block or override outlives its TTL: the analyzer's block (TTL 20 s) and an operator's
 *   override (TTL 15 s) stop applying at the sidecar at their `until` while no analyzer runs, and
 *   the restarted analyzer deletes the expired fields it did not write itself and marks the report
 *   `expired`.
 * - The consumer resumes from the committed offsets: the restarted instance consumes exactly what
 *   lies between the offsets committed when it died and the end of the topic.
 * - No anomaly report is lost: what was reported before the kill is still in the report store, and
 *   was published on `ratewarden.anomalies`.
 * - No evidence is lost: an attack in a window still open at the kill (consumed, not yet scored) is
 *   reported by the restarted instance, which reads that window again (offsets are committed only
 *   up to the oldest window not scored).
 * - Detection resumes at once: the restarted instance restores each client's learned state from
 *   its Redis snapshot (written every 2 s here) and the group's warm-up mark, so an established
 *   client is compared with its own history and its attack right after the restart is blocked
 *   without a 10-minute warm-up.
 *
 * Event time is synthetic (14 minutes of history produced at once, as in test/e2e/analyzer), so the
 * first instance's warm-up passes in seconds; after the restart event time is live.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Consumer, Kafka } from 'kafkajs';
import type { AnomalyReport } from '../../models/anomaly.js';
import { controlKeys } from '../../models/control.js';
import { ANOMALIES_TOPIC } from '../../models/events.js';
import { historyWithStuffing, listenForReports, normal, produce, stuffing } from '../helpers/analyzerTraffic.js';
import { childEnv, connectRedis, createTopics, deleteTopics, dropKeys, infraEnv, requireKafka, uniqueName } from '../helpers/infra.js';
import { httpRequest, metricValue, spawnRatewarden, startSidecarProcess, startStubUpstream, tempDir, waitFor, type RunningProcess, type SidecarProcess, type StubUpstream } from '../helpers/proc.js';
import { figure } from './lib/load.js';
import { sleep } from './lib/privateRedis.js';

const POLICY = `version: 1
identity: { trustedProxies: [127.0.0.1/32], apiKey: { header: x-api-key } }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 100000, window: 60s }
analyzer:
  actions:
    - { minScore: 0.9, action: block, ttl: 20s }
    - { minScore: 0.7, action: tighten, multiplier: 0.2, ttl: 20s }
`;
const ADMIN = 'chaos-admin-token-0123456789';
const ATTACKER_IP = `198.18.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
const ATTACKER = `ip:${ATTACKER_IP}`;
const TIGHTENED_IP = `198.51.100.${Math.floor(Math.random() * 250)}`;
const TIGHTENED = `ip:${TIGHTENED_IP}`;
const CRASH_ATTACKER_IP = `203.0.113.${Math.floor(Math.random() * 250)}`;
const CRASH_ATTACKER = `ip:${CRASH_ATTACKER_IP}`;
const ESTABLISHED = `apiKey:${String(5).padStart(16, '0')}`;
const ctlPrefix = uniqueName('chaos-an-ctl');
const reportsPrefix = uniqueName('chaos-an-rep');
const statePrefix = uniqueName('chaos-an-state');
const topic = uniqueName('chaos-an-events');
const group = uniqueName('chaos-an-group');
const policyFile = join(tempDir(), 'policy.yaml');
writeFileSync(policyFile, POLICY);

let redis: Redis;
let kafka: Kafka;
let up: StubUpstream;
let sidecar: SidecarProcess;
let reportsConsumer: Consumer;
let published: AnomalyReport[] = [];
const analyzers: RunningProcess[] = [];

function env(): NodeJS.ProcessEnv {
  return childEnv({
    REDIS_URL: infraEnv().REDIS_URL!,
    KAFKA_BROKERS: infraEnv().KAFKA_BROKERS!,
    RW_ADMIN_TOKEN: ADMIN,
    RW_CTL_PREFIX: ctlPrefix,
    RW_REPORTS_PREFIX: reportsPrefix,
    RW_EVENTS_TOPIC: topic,
    RW_GROUP_ID: group,
    RW_FROM_BEGINNING: '1',
    RW_STATE_PREFIX: statePrefix,
    RW_STATE_SNAPSHOT_EVERY: '2s',
  });
}

async function consumedBy(url: string): Promise<number> {
  return metricValue((await httpRequest(url + '/metrics')).text, 'ratewarden_events_consumed_total') ?? 0;
}

async function startAnalyzer(): Promise<{ proc: RunningProcess; url: string }> {
  const proc = spawnRatewarden(['analyzer', '--config', policyFile, '--listen', '127.0.0.1:0'], { env: env() });
  analyzers.push(proc);
  const started = await proc.waitForLog((l) => l.msg === 'analyzer started', 60_000);
  return { proc, url: String(started.address) };
}

async function api<T>(url: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const r = await httpRequest(url + path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: r.status, body: r.text ? r.json<T>() : (undefined as T) };
}

/** Offsets of the group (committed) and of the topic (end), per partition. */
async function offsets(): Promise<{ committed: Map<number, bigint>; end: Map<number, bigint> }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [c] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const e = await admin.fetchTopicOffsets(topic);
    return {
      committed: new Map(c!.partitions.map((p) => [p.partition, BigInt(p.offset === '-1' ? '0' : p.offset)])),
      end: new Map(e.map((p) => [p.partition, BigInt(p.high)])),
    };
  } finally {
    await admin.disconnect();
  }
}

before(async () => {
  kafka = await requireKafka();
  redis = await connectRedis();
  await createTopics(kafka, [{ topic, numPartitions: 2 }]);
  await createTopics(kafka, [{ topic: ANOMALIES_TOPIC, numPartitions: 1 }]).catch(() => undefined);

  ({ consumer: reportsConsumer, published } = await listenForReports(kafka, ATTACKER, 'chaos-an-reports'));
  await produce(kafka, topic, historyWithStuffing(ATTACKER, ATTACKER_IP));

  up = await startStubUpstream();
  sidecar = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: childEnv({ REDIS_URL: infraEnv().REDIS_URL!, RW_CTL_PREFIX: ctlPrefix }) });
});

after(async () => {
  await Promise.all(analyzers.map((a) => a.stop('SIGKILL')));
  await sidecar?.stop();
  await up?.close();
  await reportsConsumer?.disconnect().catch(() => undefined);
  await dropKeys(redis, ctlPrefix, [`{${reportsPrefix}}*`, `${statePrefix}:*`]);
  await deleteTopics(kafka, [topic]);
});

test('analyzer SIGKILLed mid-window: actions end at their TTL without it, it resumes from committed offsets and its snapshots, no report or evidence is lost, detection resumes at once', { timeout: 150_000 }, async () => {
  const first = await startAnalyzer();
  const blockText = await waitFor(() => redis.hget(controlKeys(ctlPrefix).blocks, ATTACKER), 'the block of the attacker', 60_000, 200);
  const block = JSON.parse(blockText) as { until: number; anomalyId: string };
  const asAttacker = { 'x-forwarded-for': ATTACKER_IP };
  assert.equal((await httpRequest(`${sidecar.url}/api/x`, { headers: asAttacker })).status, 403);

  // an operator's override on another client, 15 s
  const ov = await api<{ until: number }>(first.url, '/api/overrides', { method: 'POST', body: { rule: 'per-key', client: TIGHTENED, limit: 0, ttl: '15s', reason: 'chaos' } });
  assert.equal(ov.status, 201);
  const asTightened = { 'x-forwarded-for': TIGHTENED_IP };
  await waitFor(async () => (await httpRequest(`${sidecar.url}/api/x`, { headers: asTightened })).status === 429 || null, 'the override applied', 5_000);
  const overrideUntil = JSON.parse((await redis.hget(controlKeys(ctlPrefix).overrides, `per-key|${TIGHTENED}`))!).until as number;

  // what it learned is in Redis: every client's snapshot and the group's warm-up mark
  const stateKey = `${statePrefix}:${group}`;
  await waitFor(async () => (await redis.exists(`${stateKey}:c:${ESTABLISHED}`)) === 1 && (await redis.hexists(`${stateKey}:g`, 'warm')) === 1 || null, 'the state snapshots in Redis', 15_000, 200);
  const snapshotBytes = (await redis.strlen(`${stateKey}:c:${ESTABLISHED}`)) as number;
  const snapshotTtl = await redis.pttl(`${stateKey}:c:${ESTABLISHED}`);

  // live traffic keeps windows open; an attack starts at the beginning of a 10 s window and the
  // analyzer dies after consuming it, before that window closes
  const producer = kafka.producer();
  await producer.connect();
  await waitFor(() => Date.now() % 10_000 < 1_500 || null, 'the start of a 10 s window', 11_000, 20);
  const attackAt = Date.now();
  const consumedBeforeAttack = await consumedBy(first.url);
  await producer.send({ topic, messages: stuffing(CRASH_ATTACKER, CRASH_ATTACKER_IP, attackAt, 30) });
  for (let i = 0; i < 10; i++) {
    const now = Date.now();
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, c) => normal(now, c)) });
    await sleep(100);
  }
  await waitFor(async () => (await consumedBy(first.url)) >= consumedBeforeAttack + 30 || null, 'the attack consumed', 5_000, 50);
  await first.proc.stop('SIGKILL');
  assert.ok(Date.now() < attackAt - (attackAt % 10_000) + 12_000, 'killed while the attack window was open');
  const killedAt = Date.now();
  await producer.send({ topic, messages: Array.from({ length: 20 }, (_, c) => normal(Date.now(), c)) }); // produced while it is dead
  const atKill = await offsets();

  // without any analyzer: the block and the override stop applying at their until
  await waitFor(() => Date.now() > block.until + 50 || null, 'the block until', 30_000, 50);
  const attackerAfter = await httpRequest(`${sidecar.url}/api/x`, { headers: asAttacker });
  const blockLateMs = Date.now() - block.until;
  assert.equal(attackerAfter.status, 200, 'the expired block still applies');
  await waitFor(() => Date.now() > overrideUntil + 50 || null, 'the override until', 30_000, 50);
  assert.equal((await httpRequest(`${sidecar.url}/api/x`, { headers: asTightened })).status, 200, 'the expired override still applies');
  assert.notEqual(await redis.hget(controlKeys(ctlPrefix).blocks, ATTACKER), null, 'nobody deleted the stale field meanwhile');

  // restart: same group, same prefixes
  const second = await startAnalyzer();
  const restartedAt = Date.now();
  const expected = [...atKill.end].reduce((sum, [p, end]) => sum + Number(end - (atKill.committed.get(p) ?? 0n)), 0);
  const consumed = await waitFor(async () => {
    const v = metricValue((await httpRequest(second.url + '/metrics')).text, 'ratewarden_events_consumed_total') ?? 0;
    return v >= expected ? v : null;
  }, `${expected} events consumed after the restart`, 30_000, 200);
  await sleep(1_000);
  const consumedSettled = metricValue((await httpRequest(second.url + '/metrics')).text, 'ratewarden_events_consumed_total');

  // the restarted analyzer cleans the fields that outlived their TTL and marks the report expired
  await waitFor(async () => (await redis.hget(controlKeys(ctlPrefix).blocks, ATTACKER)) === null || null, 'the expired block field deleted', 15_000, 200);
  await waitFor(async () => (await redis.hget(controlKeys(ctlPrefix).overrides, `per-key|${TIGHTENED}`)) === null || null, 'the expired override field deleted', 15_000, 200);
  const report = await waitFor(async () => {
    const r = await api<{ report: AnomalyReport }>(second.url, `/api/anomalies/${encodeURIComponent(block.anomalyId)}`);
    return r.status === 200 && r.body.report.status === 'expired' ? r.body.report : null;
  }, 'the report marked expired', 15_000, 200);
  const listed = await api<{ items: AnomalyReport[] }>(second.url, `/api/anomalies?client=${encodeURIComponent(ATTACKER)}`);
  // everything read was scored: the held-back commits caught up with the end (the replayed windows
  // close once event time — here the clock, the partitions being idle — passes their end + 2 s)
  let lagAfter = -1;
  await waitFor(async () => {
    const o = await offsets();
    lagAfter = [...o.end].reduce((sum, [p, end]) => sum + Number(end - (o.committed.get(p) ?? 0n)), 0);
    return lagAfter === 0 || null;
  }, 'the commits at the end of the topic', 30_000, 200).catch(() => undefined);

  // the attack of the window open at the kill: read again and reported by the new instance
  const crashReport = await waitFor(async () => (await api<{ items: AnomalyReport[] }>(second.url, `/api/anomalies?client=${encodeURIComponent(CRASH_ATTACKER)}`)).body.items[0] ?? null, 'the attack of the open window reported', 20_000, 200);
  // an established client is compared with its own restored history
  const view = await api<{ baseline: { features: Array<{ feature: string; mean: number; n?: number }> } | null }>(second.url, `/api/clients/${encodeURIComponent(ESTABLISHED)}`);
  const requests10 = view.body.baseline?.features.find((f) => f.feature === 'requests_10s');

  // … and its credential stuffing right after the restart is blocked: no 10-minute warm-up
  const lateAt = Date.now();
  await producer.send({ topic, messages: [...stuffing(ESTABLISHED, '192.0.2.77', lateAt, 30), ...Array.from({ length: 20 }, (_, c) => normal(lateAt, c))] });
  await waitFor(() => redis.hget(controlKeys(ctlPrefix).blocks, ESTABLISHED), 'the established client blocked after the restart', 30_000, 200);
  const detectedAfterRestartMs = Date.now() - restartedAt;
  const detectedAfterAttackMs = Date.now() - lateAt;
  await producer.disconnect();

  figure(
    `Analyzer SIGKILL mid-window: the block (TTL 20 s) let the attacker through when checked ${blockLateMs} ms after its until, and the operator override (limit 0, TTL 15 s) ended at its until too, with no analyzer running; ` +
      `restarted instance consumed ${consumedSettled} events = ${expected} between the committed offsets and the end (lag now ${lagAfter}); ` +
      `report ${report.id} kept (${listed.body.items.length} listed, ${published.filter((p) => p.id === block.anomalyId).length} versions published) and marked expired by the new instance; ` +
      `the attack in the window open at the kill reported by the new instance (${crashReport.id}, score ${crashReport.score}); ` +
      `client snapshot ${snapshotBytes} bytes (TTL ${Math.round(snapshotTtl / 60_000)} min); the restarted instance compared ${ESTABLISHED} with its own ${requests10?.n ?? 0} windows and blocked its attack ${(detectedAfterAttackMs / 1000).toFixed(1)} s after it started (${(detectedAfterRestartMs / 1000).toFixed(1)} s after the restart)`,
  );
  assert.ok(blockLateMs < 1_000);
  assert.equal(consumed, expected);
  assert.equal(consumedSettled, expected, 'no event consumed twice');
  assert.equal(lagAfter, 0);
  assert.ok(listed.body.items.some((r) => r.id === block.anomalyId));
  assert.ok(report.history.some((h) => h.what === 'actioned') && report.history.some((h) => h.what === 'expired'));
  assert.ok(published.some((p) => p.id === block.anomalyId && p.status === 'actioned'));
  assert.ok(killedAt < block.until, 'the analyzer died while the block was in force');
  assert.equal(crashReport.window.end, attackAt - (attackAt % 10_000) + 10_000, 'the window open at the kill');
  assert.ok(requests10 && (requests10.n ?? 0) >= 30, `restored history: ${requests10?.n} windows`);
  assert.ok(snapshotBytes > 1_000 && snapshotBytes < 10_000, `snapshot ${snapshotBytes} bytes`);
  assert.ok(snapshotTtl > 3_000_000 && snapshotTtl <= 3_600_000, `TTL ${snapshotTtl}: an hour, the client has less than an hour of history`);
  assert.ok(detectedAfterAttackMs < 30_000);
});
