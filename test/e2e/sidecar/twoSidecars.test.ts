/**
 * Real `ratewarden sidecar` processes sharing the test Redis, sending events to the test Kafka,
 * in front of one recording stub upstream. Everything is namespaced by a unique tag (Redis key
 * prefix, control-plane prefix, topic), so the suite can run beside others. The store timeout is
 * raised to 2 s: on a loaded CI machine a slow Redis call must not turn into failMode: open (whose
 * local fallback is allowed to over-admit), since exact counts are what is checked here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { apiKeyId } from '../../../models/clientKey.js';
import { controlKeys } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import { decodeCallEvent, type CallEvent } from '../../../models/events.js';
import { childEnv, connectRedis, kafkaBrokers, redisUrl, requireKafka, uniqueName } from '../../helpers/infra.js';
import { httpRequest, metricValue, startSidecarProcess, startStubUpstream, waitFor, type HttpAnswer, type SidecarProcess, type StubUpstream } from '../../helpers/proc.js';

const tag = uniqueName('e2e-sc');
const topic = `${tag}.events`;
const ctlPrefix = `${tag}:ctl`;
const POLICY = `
version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: redis, failMode: open, keyPrefix: "${tag}:", timeout: 2s }
headers: [x-ratelimit, ietf]
events: { linger: 10ms }
rules:
  - id: per-key
    match: { path: "/api/**" }
    key: [apiKey]
    algorithm: sliding-window-log
    limit: 10
    window: 1h
`;

let redis: Redis;
let kafka: Kafka;
let up: StubUpstream;
let plane: RedisControlPlane;
const sidecars: SidecarProcess[] = [];
/** Every request sent through any sidecar of this file (one event each is expected). */
let sent = 0;
const SECRET_KEYS = ['e2e-secret-key-1', 'e2e-secret-key-2', 'e2e-secret-key-block', 'e2e-secret-key-override'];

function env(pod: string): NodeJS.ProcessEnv {
  return childEnv({ REDIS_URL: redisUrl(), KAFKA_BROKERS: kafkaBrokers().join(','), RW_EVENTS_TOPIC: topic, RW_CTL_PREFIX: ctlPrefix, RW_POD: pod, RW_SERVICE: 'e2e' });
}

async function call(sc: SidecarProcess, path: string, key?: string): Promise<HttpAnswer> {
  sent++;
  return httpRequest(sc.url + path, { headers: key ? { 'x-api-key': key } : {} });
}

before(async () => {
  redis = await connectRedis();
  kafka = await requireKafka();
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
  plane = new RedisControlPlane(redis, controlKeys(ctlPrefix));
  up = await startStubUpstream();
  const [a, b] = await Promise.all([startSidecarProcess({ policy: POLICY, upstream: up.url, env: env('pod-a') }), startSidecarProcess({ policy: POLICY, upstream: up.url, env: env('pod-b') })]);
  sidecars.push(a, b);
});

after(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await up?.close();
  const keys = await redis.keys(`${tag}*`);
  if (keys.length) await redis.del(...keys);
  redis?.disconnect();
});

test('two sidecars sharing Redis admit exactly the limit between them; the upstream sees only those', async () => {
  const [a, b] = sidecars as [SidecarProcess, SidecarProcess];
  up.reset();
  const storeTotals = async (): Promise<{ calls: number; decisions: number }> => {
    let calls = 0;
    let decisions = 0;
    for (const sc of [a, b]) {
      const text = (await httpRequest(sc.adminUrl + '/metrics')).text;
      calls += metricValue(text, 'ratewarden_store_calls_total') ?? NaN;
      decisions += metricValue(text, 'ratewarden_store_decisions_total') ?? NaN;
    }
    return { calls, decisions };
  };
  const before = await storeTotals();
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i % 2 ? a : b, `/api/items/${i}`, 'e2e-secret-key-1')));
  const ok = answers.filter((r) => r.status === 200);
  const limited = answers.filter((r) => r.status === 429);
  assert.equal(ok.length, 10);
  assert.equal(limited.length, 20);
  assert.equal(up.requests.length, 10);
  for (const r of answers) {
    assert.equal(r.headers['x-ratelimit-limit'], '10');
    assert.match(String(r.headers['x-ratelimit-remaining']), /^\d+$/);
    assert.ok(Number(r.headers['x-ratelimit-reset']) >= Math.floor(Date.now() / 1000));
    assert.equal(r.headers['ratelimit-policy'], '"per-key";q=10;w=3600');
    assert.match(String(r.headers['ratelimit']), /^"per-key";r=\d+;t=\d+$/);
  }
  for (const r of limited) {
    assert.equal(r.headers['x-ratelimit-remaining'], '0');
    assert.equal(r.headers['content-type'], 'application/problem+json');
    const retryAfter = Number(r.headers['retry-after']);
    const t = Number(/t=(\d+)/.exec(String(r.headers['ratelimit']))![1]);
    assert.ok(retryAfter >= 1 && retryAfter >= t, `Retry-After ${retryAfter} vs t ${t}`);
    const body = r.json<Record<string, unknown>>();
    assert.equal(body.type, 'https://iana.org/assignments/http-problem-types#quota-exceeded');
    assert.equal(body.status, 429);
    assert.deepEqual(body['violated-policies'], ['per-key']);
    assert.equal(body.error, 'rate_limited');
    assert.equal(body.rule, 'per-key');
    assert.equal(body.limit, 10);
    assert.equal(body.retryAfter, retryAfter);
  }
  // remaining counts down across both sidecars: the admitted answers carry 9..0 once each
  assert.deepEqual(ok.map((r) => Number(r.headers['x-ratelimit-remaining'])).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // another key has its own budget
  assert.equal((await call(a, '/api/items/other', 'e2e-secret-key-2')).status, 200);
  // every one of the 31 decisions went to Redis, batched into script calls (the admin metrics say how well)
  const afterTotals = await storeTotals();
  assert.equal(afterTotals.decisions - before.decisions, 31);
  const calls = afterTotals.calls - before.calls;
  assert.ok(calls >= 2 && calls <= 31, `${calls} script calls for 31 decisions on two sidecars`);
});

test('a block written to Redis reaches every running sidecar, and a sidecar started later enforces it from its first request', async (t) => {
  const [a, b] = sidecars as [SidecarProcess, SidecarProcess];
  // propagation as seen through HTTP: the midpoint of the first poll answered 403 (the precise
  // subscriber-path figure, p99 < 50 ms, is checked in test/integration/sidecar/controlPlane.test.ts)
  const latencies: number[] = [];
  for (let i = 0; i < 10; i++) {
    const client = `apiKey:${apiKeyId(`block-probe-${i}`, undefined)}`;
    const t0 = performance.now();
    await plane.write('block', client, { until: Date.now() + 600_000, reason: `probe ${i}` });
    await Promise.all(
      [a, b].map(async (sc) => {
        for (;;) {
          const sentAt = performance.now();
          const r = await call(sc, '/blk', `block-probe-${i}`);
          if (r.status === 403) {
            latencies.push(Math.max(0, (sentAt + performance.now()) / 2 - t0));
            return;
          }
          assert.equal(r.status, 200);
          if (performance.now() - t0 > 2_000) assert.fail('block did not arrive within 2 s');
        }
      }),
    );
  }
  latencies.sort((x, y) => x - y);
  const p99 = latencies[Math.ceil(latencies.length * 0.99) - 1]!;
  t.diagnostic(`block propagation through HTTP: p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);

  const blockedKey = 'e2e-secret-key-block';
  const until = Date.now() + 600_000;
  await plane.write('block', `apiKey:${apiKeyId(blockedKey, undefined)}`, { until, reason: 'abuse' });
  const late = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: env('pod-late') });
  sidecars.push(late);
  const first = await call(late, '/api/anything', blockedKey);
  assert.equal(first.status, 403);
  const body = first.json<Record<string, unknown>>();
  assert.equal(body.type, 'https://iana.org/assignments/http-problem-types#abnormal-usage-detected');
  assert.equal(body.error, 'blocked');
  assert.equal(body.reason, 'abuse');
  assert.equal(body.until, until);
  assert.ok(Number(first.headers['retry-after']) >= 599);
});

test('an override changes the limit live, and removing it restores the policy', async () => {
  const [a, b] = sidecars as [SidecarProcess, SidecarProcess];
  const key = 'e2e-secret-key-override';
  const client = `apiKey:${apiKeyId(key, undefined)}`;
  const seq = await plane.write('override', `per-key|${client}`, { limit: 2, until: Date.now() + 600_000, reason: 'tighten' });
  for (const sc of [a, b]) await waitFor(async () => metricValue((await httpRequest(sc.adminUrl + '/metrics')).text, 'ratewarden_control_seq')! >= seq, 'override seen', 2_000);
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await call(i % 2 ? a : b, '/api/o', key);
    statuses.push(r.status);
    assert.equal(r.headers['x-ratelimit-limit'], '2');
  }
  assert.deepEqual(statuses, [200, 200, 429, 429]);
  await plane.write('override', `per-key|${client}`, null);
  await waitFor(async () => (await call(a, '/api/o', key)).headers['x-ratelimit-limit'] === '10', 'override removed', 2_000);
});

test('every request produced exactly one event on the topic; API keys never appear in clear', async () => {
  const consumer = kafka.consumer({ groupId: uniqueName('e2e-sc-check') });
  const seen: Array<{ key: string; event: CallEvent; raw: string }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const raw = message.value!.toString();
      const decoded = decodeCallEvent(raw);
      assert.ok(decoded.ok, `undecodable event: ${raw}`);
      seen.push({ key: message.key!.toString(), event: decoded.value, raw });
    },
  });
  try {
    await waitFor(() => seen.length >= sent, `${sent} events (have ${seen.length})`, 30_000, 50);
    await new Promise((r) => setTimeout(r, 1_000)); // and no more than that
    assert.equal(seen.length, sent);
    for (const { key, event, raw } of seen) {
      assert.equal(key, event.client);
      for (const secret of SECRET_KEYS) assert.ok(!raw.includes(secret) && !key.includes(secret), 'an API key left the sidecar in clear');
    }
    const first = seen.filter((s) => s.event.route.startsWith('/api/items/') && s.event.client === `apiKey:${apiKeyId('e2e-secret-key-1', undefined)}`);
    assert.equal(first.length, 30);
    assert.equal(first.filter((s) => s.event.decision === 'allowed').length, 10);
    assert.equal(first.filter((s) => s.event.decision === 'limited' && s.event.status === 429 && s.event.rule === 'per-key').length, 20);
    assert.deepEqual(new Set(seen.map((s) => s.event.pod)), new Set(['pod-a', 'pod-b', 'pod-late']));
    assert.ok(seen.some((s) => s.event.decision === 'blocked' && s.event.status === 403));
  } finally {
    await consumer.disconnect();
  }
  // the counts above were decided by Redis, not by a fail-open fallback
  for (const sc of sidecars) assert.equal(metricValue((await httpRequest(sc.adminUrl + '/metrics')).text, 'ratewarden_store_errors_total'), 0);
  // and no API key in Redis keys either
  const keys = await redis.keys(`${tag}*`);
  for (const k of keys) for (const secret of SECRET_KEYS) assert.ok(!k.includes(secret), `Redis key ${k} holds an API key`);
});
