/**
 * State snapshots on real Redis and Kafka. The store keeps binary snapshots intact with a TTL on
 * every key (single node and Cluster). An analyzer instance learns a group's clients from a topic,
 * then stops without a graceful flush (`close({ snapshot: false })`: what a crash leaves behind is
 * the last periodic snapshot and the held-back offsets); a new instance of the same consumer group
 * resumes: each client is compared with its own restored baseline, the attack that was in a window
 * still open at the stop is reported (its events are read again), and an attack right after the
 * restart is reported without a 10-minute warm-up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Redis } from 'ioredis';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { encodeCallEvent, type CallEvent } from '../../../models/events.js';
import { startAnalyzer, type RunningAnalyzer } from '../../../analyzer/server.js';
import { KafkaEventSource } from '../../../analyzer/ingest/kafkaEventSource.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { RedisStateStore } from '../../../analyzer/state/redisStateStore.js';
import { MemoryStateStore } from '../../../analyzer/state/stateStore.js';
import { connectCluster, connectRedis, requireKafka, uniqueName } from '../../helpers/infra.js';
import { ev, policy } from '../../unit/analyzer/helpers.js';

const ACT = `analyzer:
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
`;
const KEYED = (c: number): string => `apiKey:${String(c).padStart(16, '0')}`;
const BUSY = KEYED(0);
const CRASH_ATTACKER = `ip:198.18.7.${Math.floor(Math.random() * 250)}`;
const LATE_ATTACKER = KEYED(7);

let redis: Redis;
let cluster: Cluster;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const prefix = uniqueName('rwtest-an-state');
const clusterPrefix = uniqueName('rwtest-an-cstate');
const topic = uniqueName('rwtest-an-state-events');
const group = uniqueName('rwtest-an-state-group');
const running: RunningAnalyzer[] = [];

before(async () => {
  redis = await connectRedis();
  cluster = await connectCluster();
  kafka = await requireKafka();
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
  producer = kafka.producer();
  await producer.connect();
});

after(async () => {
  for (const r of running) await r.close({ snapshot: false }).catch(() => undefined);
  await producer?.disconnect();
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect();
  if (redis) {
    const stale = await redis.keys(`${prefix}:*`);
    if (stale.length) await redis.del(...stale);
    redis.disconnect();
  }
  if (cluster) {
    for (const node of cluster.nodes('master')) {
      const stale = await node.keys(`${clusterPrefix}:*`);
      for (const k of stale) await cluster.del(k);
    }
    cluster.disconnect();
  }
});

async function until<T>(what: string, check: () => T | null | undefined | false | Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('binary snapshots survive the store intact, every key carries the TTL, and the warm-up mark keeps the earliest', async () => {
  const store = new RedisStateStore(redis, { prefix, group: 'g-store', ttlMs: 3_600_000 });
  const bytes = Uint8Array.from({ length: 3000 }, (_, i) => (i * 131) & 255);
  await store.putClients([['apiKey:00000000000000aa', bytes], ['ip:10.0.0.1', bytes.subarray(7, 20)]]);
  const got = await store.getClients(['apiKey:00000000000000aa', 'ip:10.0.0.1', 'ip:10.0.0.2']);
  assert.deepEqual(new Uint8Array(got[0]!), bytes);
  assert.deepEqual(new Uint8Array(got[1]!), bytes.subarray(7, 20));
  assert.equal(got[2], null);
  const ttl = await redis.pttl(store.keys.client('apiKey:00000000000000aa'));
  assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `ttl ${ttl}`);
  await store.putGroup(1_000, [['free/10000', bytes]]);
  await store.putGroup(2_000, [['free/10000', bytes.subarray(0, 10)]]);
  const g = await store.getGroup();
  assert.equal(g.warmSince, 1_000, 'the earliest mark stays');
  assert.deepEqual(new Uint8Array(g.populations.get('free/10000')!), bytes.subarray(0, 10));
  assert.ok((await redis.pttl(store.keys.group)) > 3_500_000);
});

test('a later warm-up mark stored first (one from a future event time) is replaced by an earlier one', async () => {
  const stores = { redis: new RedisStateStore(redis, { prefix, group: 'g-warm-later', ttlMs: 3_600_000 }), cluster: new RedisStateStore(cluster, { prefix: clusterPrefix, group: 'g-warm-later', ttlMs: 3_600_000 }), memory: new MemoryStateStore() };
  for (const [kind, store] of Object.entries(stores)) {
    await store.putGroup(Date.UTC(2099, 0, 1), []);
    await store.putGroup(1_000, []);
    await store.putGroup(2_000, []);
    assert.equal((await store.getGroup()).warmSince, 1_000, kind);
  }
});

test('on a Redis Cluster, a batch of clients spread over the slots is written and read back', async () => {
  const store = new RedisStateStore(cluster, { prefix: clusterPrefix, group: 'g', ttlMs: 600_000 });
  const entries = Array.from({ length: 100 }, (_, i) => [`ip:10.3.0.${i}`, Uint8Array.of(i, 1, 2, 3)] as const);
  await store.putClients(entries);
  const got = await store.getClients(entries.map(([c]) => c));
  assert.deepEqual(got.map((b) => b![0]), entries.map((_, i) => i));
  assert.ok((await cluster.pttl(store.keys.client('ip:10.3.0.5'))) > 500_000);
});

function normalAt(t: number, i: number): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  for (let c = 0; c < 20; c++) {
    const n = c === 0 ? 4 : (i + c) % 2 === 0 ? 1 : 0;
    for (let k = 0; k < n; k++) {
      const client = KEYED(c);
      out.push({ key: client, value: encodeCallEvent(ev({ ts: t + c * 10 + k * 150, client, route: `/api/items/${(i * 7 + k) % 50}`, ip: `10.0.${c}.${k % 3}`, uaHash: `ua-${c}` })) });
    }
  }
  return out;
}

function attack(client: string, t: number, n = 30): Array<{ key: string; value: string }> {
  return Array.from({ length: n }, (_, j) => ({ key: client, value: encodeCallEvent(ev({ ts: t + j * 20, client, ip: '198.18.7.1', method: 'POST', route: '/login', status: 401, uaHash: null } as Partial<CallEvent>)) }));
}

async function instance(reports: MemoryReportStore): Promise<RunningAnalyzer> {
  let r: RunningAnalyzer | null = null;
  const source = new KafkaEventSource({ kafka, topic, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, scoredUntil: (p) => r?.state.analyzer.scoredUntil(p) ?? Number.NEGATIVE_INFINITY });
  r = await startAnalyzer({
    policy: policy(ACT),
    source,
    controlPlane: new MemoryControlPlane(),
    reports,
    listen: null,
    model: null,
    logger: false,
    state: { store: new RedisStateStore(redis, { prefix, group }), snapshotEveryMs: 1_000 },
  });
  running.push(r);
  return r;
}

async function metric(r: RunningAnalyzer, name: string): Promise<number> {
  const text = await r.state.metrics.registry.getSingleMetricAsString(name);
  return [...text.matchAll(/^\S+(?:\{[^}]*\})? (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function committed(): Promise<number> {
  const [c] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return c!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

async function produced(): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
}

test('a new instance of the group resumes from the snapshots: own baselines, the open window at the stop, and an attack right after, without warm-up', { timeout: 120_000 }, async () => {
  // 12 minutes of history ending a minute ago
  const start = Math.floor((Date.now() - 13 * 60_000) / 60_000) * 60_000;
  const history: Array<{ key: string; value: string }> = [];
  for (let s = 0; s < 12 * 60; s++) history.push(...normalAt(start + s * 1_000, s));
  for (let i = 0; i < history.length; i += 2_000) await producer.send({ topic, messages: history.slice(i, i + 2_000) });

  const reports = new MemoryReportStore();
  const first = await instance(reports);
  await until('the history consumed', async () => (await metric(first, 'ratewarden_events_consumed_total')) >= history.length, 45_000);
  await until('the snapshots written', async () => (await metric(first, 'ratewarden_state_snapshots_total')) >= 20, 15_000);
  const before = first.state.analyzer.client(BUSY)!;
  const centreBefore = before.baseline['10s'].find((b) => b.feature === 'requests')!.centre;

  // an attack at the start of a live 10 s window; the instance stops before that window closes
  await until('the start of a 10 s window', () => Date.now() % 10_000 < 1_500, 11_000);
  const t = Date.now();
  const consumedBefore = await metric(first, 'ratewarden_events_consumed_total');
  await producer.send({ topic, messages: [...attack(CRASH_ATTACKER, t), ...normalAt(t, 0)] });
  await until('the attack consumed', async () => (await metric(first, 'ratewarden_events_consumed_total')) >= consumedBefore + 30, 5_000);
  await first.close({ snapshot: false });
  assert.ok(Date.now() < t - (t % 10_000) + 10_000 + 2_000, 'stopped while the window was open');
  assert.ok((await committed()) < (await produced()), 'the open window was not committed');
  assert.equal((await reports.list({ client: CRASH_ATTACKER })).items.length, 0, 'the first instance did not score it');

  // the new instance of the group
  const second = await instance(reports);
  const crashReport = await until('the attack of the open window reported', async () => (await reports.list({ client: CRASH_ATTACKER })).items[0], 30_000);
  assert.equal(crashReport.window.end, t - (t % 10_000) + 10_000);
  const busy = await until('the busy client restored', () => second.state.analyzer.client(BUSY), 15_000);
  assert.ok(busy.windows['10s'] >= 40, `restored history: ${busy.windows['10s']} windows`);
  const own = busy.baseline['10s'].find((b) => b.feature === 'requests')!;
  assert.equal(own.source, 'client');
  assert.ok(Math.abs(own.centre - centreBefore) < 0.5, `its own centre ${own.centre}, ${centreBefore} before`);
  assert.match(await second.state.metrics.registry.getSingleMetricAsString('ratewarden_state_restores_total'), /result="restored"\} (1\d|20)\b/);
  const end = await produced();
  await until('the held-back commits at the end once everything read was scored', async () => (await committed()) === end, 30_000);

  // an established key turns to credential stuffing right after the restart
  const t2 = Date.now();
  await producer.send({ topic, messages: [...attack(LATE_ATTACKER, t2), ...normalAt(t2, 1)] });
  const late = await until('the attack after the restart reported', async () => (await reports.list({ client: LATE_ATTACKER })).items[0], 30_000);
  assert.ok(late.detectors.credential_stuffing! >= 0.75);
  await second.close();
});
