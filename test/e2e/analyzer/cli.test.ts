/**
 * `ratewarden analyzer` as a process on real Kafka and Redis: it consumes call events from its
 * topic, learns for the warm-up, blocks a credential-stuffing client in the control-plane hash of
 * RW_CTL_PREFIX, stores the report in Redis, publishes it on `ratewarden.anomalies`, and counts it
 * all in /metrics. Event time is synthetic (a past quarter of an hour produced at once), so the run
 * takes seconds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Consumer, Kafka } from 'kafkajs';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { controlKeys } from '../../../models/control.js';
import { ANOMALIES_TOPIC } from '../../../models/events.js';
import { historyWithStuffing, listenForReports, produce } from '../../helpers/analyzerTraffic.js';
import { childEnv, connectRedis, createTopics, deleteTopics, dropKeys, infraEnv, requireKafka, uniqueName } from '../../helpers/infra.js';
import { metricValue, runRatewarden, spawnRatewarden, tempDir, waitFor, type RunningProcess } from '../../helpers/proc.js';

const POLICY = `version: 1
identity: { apiKey: { header: x-api-key } }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 1000, window: 60s }
analyzer:
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
    - { minScore: 0.7, action: tighten, multiplier: 0.2, ttl: 10m }
`;
const ADMIN = 'e2e-admin-token-0123456789';
const ATTACKER = `ip:198.18.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
const ctlPrefix = uniqueName('rwtest-ane2e-ctl');
const reportsPrefix = uniqueName('rwtest-ane2e-rep');
const topic = uniqueName('rwtest-ane2e-events');
const group = uniqueName('rwtest-ane2e-group');
const statePrefix = uniqueName('rwtest-ane2e-state');
let redis: Redis;
let kafka: Kafka;
let analyzer: RunningProcess;
let url: string;
let reportsConsumer: Consumer;
let published: AnomalyReport[] = [];
let produced = 0;

before(async () => {
  kafka = await requireKafka();
  redis = await connectRedis();
  await createTopics(kafka, [{ topic, numPartitions: 2 }]);
  await createTopics(kafka, [{ topic: ANOMALIES_TOPIC, numPartitions: 1 }]).catch(() => undefined);

  // listen on ratewarden.anomalies first (other tests may publish there too: filter by our attacker)
  ({ consumer: reportsConsumer, published } = await listenForReports(kafka, ATTACKER, 'rwtest-ane2e-reports'));
  const messages = [...historyWithStuffing(ATTACKER, ATTACKER.slice(3)), { key: 'garbage', value: 'this is not an event' }];
  await produce(kafka, topic, messages);
  produced = messages.length;

  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, POLICY);
  analyzer = spawnRatewarden(['analyzer', '--config', file, '--listen', '127.0.0.1:0'], {
    env: childEnv({
      REDIS_URL: infraEnv().REDIS_URL!,
      KAFKA_BROKERS: infraEnv().KAFKA_BROKERS!,
      RW_ADMIN_TOKEN: ADMIN,
      RW_CTL_PREFIX: ctlPrefix,
      RW_REPORTS_PREFIX: reportsPrefix,
      RW_EVENTS_TOPIC: topic,
      RW_GROUP_ID: group,
      RW_FROM_BEGINNING: '1',
      RW_LOG_LEVEL: 'info',
      RW_STATE_PREFIX: statePrefix,
      RW_STATE_SNAPSHOT_EVERY: '2s',
    }),
  });
  const started = await analyzer.waitForLog((l) => l.msg === 'analyzer started', 60_000);
  url = String(started.address);
});

after(async () => {
  await analyzer?.stop('SIGTERM');
  await reportsConsumer?.disconnect().catch(() => undefined);
  await dropKeys(redis, ctlPrefix, [`{${reportsPrefix}}*`, `${statePrefix}:*`]);
  await deleteTopics(kafka, [topic]);
});

test('the analyzer loads the shipped model and says which TensorFlow.js backend it uses', async () => {
  const health = (await (await fetch(`${url}/healthz`)).json()) as { ok: boolean; model: { version: string; backend: string } };
  assert.equal(health.ok, true);
  assert.equal(health.model.version, 'autoencoder-v1');
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(health.model.backend));
  assert.ok(analyzer.logs.some((l) => /tensorflow\.js backend:/.test(String(l.msg))));
});

test('a credential-stuffing client is blocked in the control plane of RW_CTL_PREFIX', { timeout: 60_000 }, async () => {
  const raw = await waitFor(() => redis.hget(controlKeys(ctlPrefix).blocks, ATTACKER), 'the block', 45_000, 200);
  const block = JSON.parse(raw) as { until: number; reason: string; anomalyId: string };
  assert.ok(block.until > Date.now());
  assert.match(block.reason, /credential stuffing/);
  const res = await fetch(`${url}/api/anomalies?client=${encodeURIComponent(ATTACKER)}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const body = (await res.json()) as { items: AnomalyReport[] };
  assert.equal(body.items[0]!.id, block.anomalyId);
  assert.equal(body.items[0]!.status, 'actioned');
  assert.equal((await redis.hgetall(controlKeys(ctlPrefix).blocks))['apiKey:0000000000000001'], undefined, 'no normal client is blocked');
});

test('the report is published on ratewarden.anomalies', { timeout: 30_000 }, async () => {
  await waitFor(() => published.length > 0 || null, 'the published report', 20_000, 100);
  assert.equal(published[0]!.client, ATTACKER);
  assert.ok(published.some((r) => r.status === 'actioned' && r.action.kind === 'block'));
});

test('/metrics counts consumed and bad events, the anomaly and the active block', { timeout: 30_000 }, async () => {
  const text = await waitFor(async () => {
    const t = await (await fetch(`${url}/metrics`)).text();
    return (metricValue(t, 'ratewarden_events_consumed_total') ?? 0) >= produced - 1 && (metricValue(t, 'ratewarden_active_blocks') ?? 0) >= 1 ? t : null;
  }, 'the metrics', 20_000, 250);
  assert.equal(metricValue(text, 'ratewarden_events_consumed_total'), produced - 1);
  assert.equal(metricValue(text, 'ratewarden_events_bad_total'), 1);
  assert.ok((metricValue(text, 'ratewarden_anomalies_total', { detector: 'credential_stuffing', action: 'block' }) ?? 0) >= 1);
  assert.ok(metricValue(text, 'ratewarden_consumer_lag') !== null);
});

test('what it learned is in Redis under RW_STATE_PREFIX and the group: a snapshot per client with a TTL (an hour while it has less than an hour of history), and the warm-up mark', { timeout: 30_000 }, async () => {
  const key = `${statePrefix}:${group}:c:apiKey:${String(3).padStart(16, '0')}`;
  const bytes = await waitFor(async () => (await redis.strlen(key)) || null, 'the client snapshot', 20_000, 250);
  assert.ok(bytes > 1_000 && bytes < 10_000, `${bytes} bytes`);
  const ttl = await redis.pttl(key);
  assert.ok(ttl > 3_000_000 && ttl <= 3_600_000, `ttl ${ttl}`);
  // the group's hash is written after the clients (a second call of the same flush, or the next
  // periodic flush when an urgent one wrote this client): wait for it rather than read it at once
  const warm = await waitFor(async () => Number(await redis.hget(`${statePrefix}:${group}:g`, 'warm')) || null, 'the warm-up mark', 8_000, 250);
  assert.ok(warm > 0);
  assert.ok((await redis.hkeys(`${statePrefix}:${group}:g`)).some((f) => f.startsWith('pop:')), 'population rings');
});

test('without Kafka and Redis the analyzer refuses to start and says what it needs', { timeout: 20_000 }, async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, POLICY);
  const r = await runRatewarden(['analyzer', '--config', file], { env: childEnv() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /needs Kafka and Redis; missing KAFKA_BROKERS .* and REDIS_URL or REDIS_CLUSTER_NODES/);
  assert.match(r.stderr, /ratewarden demo/);
});

test('ratewarden analyzer --train writes a loadable artifact with its metadata', { timeout: 60_000 }, async () => {
  const out = join(tempDir(), 'autoencoder-t1');
  const r = await runRatewarden(['analyzer', '--train', '--out', out, '--source', 'generator', '--clients', '40', '--minutes', '15', '--epochs', '2'], { env: childEnv(), timeoutMs: 50_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /autoencoder-t1, \d+ rows/);
  assert.match(r.stderr, /tensorflow\.js backend: /);
  const { readFileSync, existsSync } = await import('node:fs');
  assert.ok(existsSync(join(out, 'model.json')) && existsSync(join(out, 'weights.bin')));
  const meta = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8')) as { version: string; training: { source: string } };
  assert.equal(meta.version, 'autoencoder-t1');
  assert.match(meta.training.source, /generator/);
});
