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
 *
 * Event time is synthetic (14 minutes of history produced at once, as in test/e2e/analyzer), so the
 * warm-up passes in seconds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Consumer, Kafka } from 'kafkajs';
import { decodeAnomalyReport, type AnomalyReport } from '../../models/anomaly.js';
import { controlKeys } from '../../models/control.js';
import { ANOMALIES_TOPIC, encodeCallEvent, type CallEvent } from '../../models/events.js';
import { childEnv, connectRedis, infraEnv, requireKafka, uniqueName } from '../helpers/infra.js';
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
const ctlPrefix = uniqueName('chaos-an-ctl');
const reportsPrefix = uniqueName('chaos-an-rep');
const topic = uniqueName('chaos-an-events');
const group = uniqueName('chaos-an-group');
const policyFile = join(tempDir(), 'policy.yaml');
writeFileSync(policyFile, POLICY);

let redis: Redis;
let kafka: Kafka;
let up: StubUpstream;
let sidecar: SidecarProcess;
let reportsConsumer: Consumer;
const published: AnomalyReport[] = [];
const analyzers: RunningProcess[] = [];

function event(ts: number, client: string, over: Partial<CallEvent> = {}): CallEvent {
  return { v: 1, ts, pod: 'api-0', service: 'api', method: 'GET', route: '/api/items', status: 200, latencyMs: 12, bytesIn: 0, bytesOut: 800, ip: '10.0.0.1', client, user: null, uaHash: 'ua', decision: 'allowed', rule: null, cost: 1, ...over };
}

function normal(t: number, c: number): { key: string; value: string } {
  const client = `apiKey:${String(c).padStart(16, '0')}`;
  return { key: client, value: encodeCallEvent(event(t + c * 7, client, { route: `/api/r${c % 4}`, ip: `10.0.1.${c}` })) };
}

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
  });
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
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
  await admin.createTopics({ topics: [{ topic: ANOMALIES_TOPIC, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true }).catch(() => undefined);
  await admin.disconnect();

  reportsConsumer = kafka.consumer({ groupId: uniqueName('chaos-an-reports') });
  await reportsConsumer.connect();
  await reportsConsumer.subscribe({ topic: ANOMALIES_TOPIC, fromBeginning: false });
  const joined = new Promise<void>((resolve) => reportsConsumer.on(reportsConsumer.events.GROUP_JOIN, () => resolve()));
  await reportsConsumer.run({
    eachMessage: async ({ message }) => {
      if (message.key?.toString() !== ATTACKER) return;
      const d = decodeAnomalyReport(message.value!);
      if (d.ok) published.push(d.value);
    },
  });
  await joined;

  // 14 minutes of event time ending a minute ago: 20 normal clients, then credential stuffing
  const producer = kafka.producer();
  await producer.connect();
  const start = Date.now() - 15 * 60_000;
  const messages: Array<{ key: string; value: string }> = [];
  for (let s = 0; s < 14 * 60; s++) {
    const t = start + s * 1_000;
    for (let c = 0; c < 20; c++) if ((s + c) % 3 === 0) messages.push(normal(t, c));
    if (s >= 13 * 60) for (let j = 0; j < 12; j++) messages.push({ key: ATTACKER, value: encodeCallEvent(event(t + j * 80, ATTACKER, { method: 'POST', route: '/login', status: 401, ip: ATTACKER_IP, uaHash: null })) });
  }
  for (let i = 0; i < messages.length; i += 2_000) await producer.send({ topic, messages: messages.slice(i, i + 2_000) });
  await producer.disconnect();

  up = await startStubUpstream();
  sidecar = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: childEnv({ REDIS_URL: infraEnv().REDIS_URL!, RW_CTL_PREFIX: ctlPrefix }) });
});

after(async () => {
  await Promise.all(analyzers.map((a) => a.stop('SIGKILL')));
  await sidecar?.stop();
  await up?.close();
  await reportsConsumer?.disconnect().catch(() => undefined);
  if (redis) {
    const k = controlKeys(ctlPrefix);
    const stale = await redis.keys(`{${reportsPrefix}}*`);
    await redis.del(k.blocks, k.overrides, k.load, k.seq, ...stale);
    redis.disconnect();
  }
  const admin = kafka?.admin();
  if (admin) {
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
});

test('analyzer SIGKILLed mid-window: actions end at their TTL without it, it resumes from committed offsets, no report is lost', { timeout: 150_000 }, async () => {
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

  // live traffic keeps windows open; the analyzer dies in the middle of it
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < 20; i++) {
    const now = Date.now();
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, c) => normal(now, c)) });
    await sleep(100);
  }
  await first.proc.stop('SIGKILL');
  const killedAt = Date.now();
  await producer.send({ topic, messages: Array.from({ length: 20 }, (_, c) => normal(Date.now(), c)) }); // produced while it is dead
  await producer.disconnect();
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
  const after = await offsets();
  const lagAfter = [...after.end].reduce((sum, [p, end]) => sum + Number(end - (after.committed.get(p) ?? 0n)), 0);

  figure(
    `Analyzer SIGKILL mid-window: the block (TTL 20 s) let the attacker through when checked ${blockLateMs} ms after its until, and the operator override (limit 0, TTL 15 s) ended at its until too, with no analyzer running; ` +
      `restarted instance consumed ${consumedSettled} events = ${expected} between the committed offsets and the end (lag now ${lagAfter}); ` +
      `report ${report.id} kept (${listed.body.items.length} listed, ${published.filter((p) => p.id === block.anomalyId).length} versions published) and marked expired by the new instance`,
  );
  assert.ok(blockLateMs < 1_000);
  assert.equal(consumed, expected);
  assert.equal(consumedSettled, expected, 'no event consumed twice');
  assert.equal(lagAfter, 0);
  assert.ok(listed.body.items.some((r) => r.id === block.anomalyId));
  assert.ok(report.history.some((h) => h.what === 'actioned') && report.history.some((h) => h.what === 'expired'));
  assert.ok(published.some((p) => p.id === block.anomalyId && p.status === 'actioned'));
  assert.ok(killedAt < block.until, 'the analyzer died while the block was in force');
});
