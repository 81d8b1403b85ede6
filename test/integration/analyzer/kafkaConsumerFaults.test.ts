/**
 * The analyzer's consumer group on real Kafka when things go wrong: a consumer kafkajs gives up on
 * (a topic whose batches it cannot decompress) ends run() and the analyzer stops saying it consumes;
 * a consumer that crashes and restarts hands its partitions back, so nothing another member scored
 * meanwhile is read again; consumer_lag drops the partitions a rebalance took away; and what was
 * scored since the last held-back commit is committed at stop() and when a rebalance starts, so the
 * next owner does not read those windows again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { encodeCallEvent, type CallEvent } from '../../../models/events.js';
import { KafkaEventSource, type KafkaEventSourceOptions } from '../../../analyzer/ingest/kafkaEventSource.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { startAnalyzer, type RunningAnalyzer } from '../../../analyzer/server.js';
import { kafkaBrokers, requireKafka, uniqueName } from '../../helpers/infra.js';
import { policy } from '../../unit/analyzer/helpers.js';

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const topics: string[] = [];
const sources: KafkaEventSource[] = [];
const analyzers: RunningAnalyzer[] = [];

before(async () => {
  kafka = await requireKafka();
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});

after(async () => {
  for (const r of analyzers) await r.close({ snapshot: false }).catch(() => undefined);
  for (const s of sources) await s.stop().catch(() => undefined);
  await producer?.disconnect();
  if (topics.length) await admin?.deleteTopics({ topics }).catch(() => undefined);
  await admin?.disconnect();
});

async function topic(partitions: number, configEntries: Array<{ name: string; value: string }> = []): Promise<string> {
  const name = uniqueName('rwtest-an-faults');
  await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions, replicationFactor: 1, configEntries }], waitForLeaders: true });
  topics.push(name);
  return name;
}

/**
 * A client whose id sorts as given: kafkajs' round-robin assigner orders members by member id,
 * which starts with the client id, so with one partition the member named `a…` gets it.
 */
function client(order: 'a' | 'z', retry: Record<string, unknown> = {}): Kafka {
  return new Kafka({ clientId: `${order}-${uniqueName('rwtest')}`, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING, retry: { retries: 3, ...retry } });
}

const T = 1_700_000_000_000;

function event(i: number, ts = T + i): CallEvent {
  return { v: 1, ts, pod: 'p', service: 'api', method: 'GET', route: `/api/items/${i}`, status: 200, latencyMs: 5, bytesIn: 0, bytesOut: 100, ip: '10.0.0.1', client: 'ip:10.0.0.1', user: null, uaHash: null, decision: 'allowed', rule: null, cost: 1 };
}

function source(opts: Partial<KafkaEventSourceOptions> & Pick<KafkaEventSourceOptions, 'topic' | 'groupId'>): KafkaEventSource {
  const s = new KafkaEventSource({ kafka, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, ...opts });
  sources.push(s);
  return s;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function committed(group: string, name: string, partition = 0): Promise<string> {
  const [t] = await admin.fetchOffsets({ groupId: group, topics: [name] });
  return t!.partitions.find((p) => p.partition === partition)!.offset;
}

test('a consumer kafkajs does not restart (a batch compressed with a codec it lacks) ends run() with the reason, and the analyzer stops saying it consumes', { timeout: 60_000 }, async () => {
  // the broker stores every batch of this topic as lz4, whatever the producer sent
  const name = await topic(1, [{ name: 'compression.type', value: 'lz4' }]);
  await producer.send({ topic: name, messages: [{ key: 'k', value: encodeCallEvent(event(1, Date.now())) }] });
  const errors: Error[] = [];
  const s = source({ topic: name, groupId: uniqueName('rwtest-an-group'), onError: (e) => void errors.push(e) });
  const run = s.run(async () => undefined);
  await assert.rejects(
    Promise.race([run, new Promise((_, reject) => setTimeout(() => reject(new Error('run() still pending 20 s after the consumer crashed')), 20_000))]),
    /crashed and kafkajs does not restart it: LZ4 compression not implemented \(kafkajs reads uncompressed and gzip batches only: the topic's compression\.type must be/,
  );
  assert.deepEqual(s.partitions, [], 'it holds no partition any more');
  assert.ok(errors.some((e) => /LZ4/.test(e.message)), 'the crash was reported through onError');

  // the same through the service: /healthz (consuming) turns false
  const group = uniqueName('rwtest-an-group');
  const r = await startAnalyzer({ policy: policy(), source: source({ topic: name, groupId: group }), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), listen: null, model: null, logger: false });
  analyzers.push(r);
  assert.equal(r.state.consuming, true);
  await until('the analyzer to stop saying it consumes', () => !r.state.consuming, 20_000);
  const health = await r.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 503);
});

test('consumer_lag drops the partitions a rebalance took away', { timeout: 90_000 }, async () => {
  const name = await topic(1);
  const group = uniqueName('rwtest-an-group');
  // small batches (one send each: a record batch is never split) and a slow handler keep it behind
  for (let b = 0; b < 100; b++) await producer.send({ topic: name, messages: Array.from({ length: 10 }, (_, k) => ({ key: 'k', value: encodeCallEvent(event(b * 10 + k)) })) });
  let lagA = -1;
  const a = new KafkaEventSource({ kafka: client('z'), topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, maxBytesPerPartition: 1_024, onLag: (l) => (lagA = l) });
  sources.push(a);
  void a.run(() => new Promise<void>((r) => setTimeout(r, 200)));
  await until('the first member to be behind', () => lagA > 100);
  // the second member sorts first: it gets the only partition
  const b = new KafkaEventSource({ kafka: client('a'), topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 });
  sources.push(b);
  void b.run(async () => undefined);
  await until('the partition to move', () => a.partitions.length === 0 && b.partitions.length === 1, 45_000);
  await until("the first member's lag to drop the partition it lost", () => lagA === 0, 5_000);
  assert.equal(a.totalLag, 0);
});

test('at stop(), what was scored since the last held-back commit is committed', { timeout: 60_000 }, async () => {
  const name = await topic(1);
  const group = uniqueName('rwtest-an-group');
  let mark = Number.NEGATIVE_INFINITY;
  // the periodic commit never comes in this test: only the batch's own and the one at stop
  const s = source({ topic: name, groupId: group, scoredUntil: () => mark, commitEveryMs: 600_000 });
  await producer.send({ topic: name, messages: Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: encodeCallEvent(event(i, T + 1_000 + i)) })) });
  let handled = 0;
  void s.run(async (events) => void (handled += events.length));
  await until('all 20 handled', () => handled === 20);
  await until('the batch committed, held at its open window', async () => (await committed(group, name)) === '0', 5_000);
  mark = T + 10_000; // the window scored
  await s.stop();
  assert.equal(await committed(group, name), '20', 'the next owner starts after the scored window');
});

test('when a rebalance starts, what was scored since the last held-back commit is committed before the partitions move', { timeout: 90_000 }, async () => {
  const name = await topic(1);
  const group = uniqueName('rwtest-an-group');
  let mark = Number.NEGATIVE_INFINITY;
  const a = new KafkaEventSource({ kafka: client('z'), topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, scoredUntil: () => mark, commitEveryMs: 600_000 });
  sources.push(a);
  await producer.send({ topic: name, messages: Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: encodeCallEvent(event(i, T + 1_000 + i)) })) });
  let handled = 0;
  void a.run(async (events) => void (handled += events.length));
  await until('all 20 handled', () => handled === 20);
  await until('the batch committed, held at its open window', async () => (await committed(group, name)) === '0', 5_000);
  mark = T + 10_000; // scored; no commit follows until the rebalance
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await committed(group, name), '0');
  const reread: number[] = [];
  const b = new KafkaEventSource({ kafka: client('a'), topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, scoredUntil: () => Number.NEGATIVE_INFINITY });
  sources.push(b);
  void b.run(async (events) => void reread.push(...events.map((e) => e.ts)));
  await until('the partition to move', () => a.partitions.length === 0 && b.partitions.length === 1, 45_000);
  await producer.send({ topic: name, messages: [{ key: 'k', value: encodeCallEvent(event(99, T + 20_000)) }] });
  await until('the new owner to read the new event', () => reread.includes(T + 20_000), 15_000);
  assert.deepEqual(reread, [T + 20_000], 'the new owner did not read the window the old one had scored');
});

test('a consumer that crashes and restarts hands its partitions back: it does not read again what another member scored meanwhile', { timeout: 120_000 }, async () => {
  const name = await topic(2);
  const group = uniqueName('rwtest-an-group');
  const byA: number[] = [];
  const byB: number[] = [];
  const revokedA: number[] = [];
  const crashes: Error[] = [];
  let failing = false;
  let bDone = false;
  // A's handler fails (a plain Error: retried, then a crash kafkajs restarts from); its restart waits until B took over and scored everything
  const kafkaA = client('z', { initialRetryTime: 50, maxRetryTime: 200, restartOnFailure: async () => {
    const end = Date.now() + 60_000;
    while (!bDone && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    return true;
  } });
  const a = new KafkaEventSource({ kafka: kafkaA, topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, scoredUntil: () => Number.NEGATIVE_INFINITY, onRevoked: (p) => void revokedA.push(...p), onError: (e) => void crashes.push(e) });
  sources.push(a);
  void a.run(async (events) => {
    if (failing) throw new Error('handler failed');
    byA.push(...events.map((e) => e.ts));
  });
  await until('A to own both partitions', () => a.partitions.length === 2);
  // B sorts first: the assignment of the two is the same each time they join (A's partition: pA)
  const b = new KafkaEventSource({ kafka: client('a'), topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, scoredUntil: () => Number.POSITIVE_INFINITY });
  sources.push(b);
  void b.run(async (events) => void byB.push(...events.map((e) => e.ts)));
  await until('the partitions to be split', () => a.partitions.length === 1 && b.partitions.length === 1, 45_000);
  const pA = a.partitions[0]!;
  await producer.send({ topic: name, messages: Array.from({ length: 10 }, (_, i) => ({ key: 'k', partition: pA, value: encodeCallEvent(event(i, T + 1_000 + i)) })) });
  await until("A to read its partition", () => byA.length === 10);
  revokedA.length = 0;
  failing = true;
  await producer.send({ topic: name, messages: Array.from({ length: 10 }, (_, i) => ({ key: 'k', partition: pA, value: encodeCallEvent(event(i, T + 2_000 + i)) })) });
  // A crashes and leaves the group; B takes A's partition, reads it from A's held-back commit and scores it all
  await until('B to own both partitions', () => b.partitions.length === 2, 45_000);
  await until("B to read and commit A's partition", async () => byB.length >= 20 && (await committed(group, name, pA)) === '20', 30_000);
  failing = false;
  const beforeRestart = byA.length;
  // kafkajs reports the crash once restartOnFailure answered
  bDone = true;
  await until('the crash reported', () => crashes.length > 0, 30_000);
  await until('A to be back with its partition', () => a.partitions.join() === String(pA), 60_000);
  await producer.send({ topic: name, messages: [{ key: 'k', partition: pA, value: encodeCallEvent(event(99, T + 30_000)) }] });
  await until('A to read the new event', () => byA.includes(T + 30_000), 20_000);
  const again = byA.slice(beforeRestart).filter((ts) => byB.includes(ts));
  assert.deepEqual(again, [], 'A read nothing B had scored and committed');
  assert.deepEqual(revokedA, [pA], 'the crash handed its partition back to the analyzer (which closes its windows)');
});
