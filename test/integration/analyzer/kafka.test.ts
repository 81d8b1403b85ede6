/**
 * The analyzer's consumer group on real Kafka: instances split the partitions, every event is
 * handled once across a rebalance, offsets are committed only after the batch's state update, and
 * undecodable messages are counted and skipped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { encodeCallEvent, type CallEvent } from '../../../models/events.js';
import { KafkaEventSource } from '../../../analyzer/ingest/kafkaEventSource.js';
import { requireKafka, uniqueName } from '../../helpers/infra.js';

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const topics: string[] = [];
const sources: KafkaEventSource[] = [];

before(async () => {
  kafka = await requireKafka();
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});

after(async () => {
  for (const s of sources) await s.stop();
  await producer?.disconnect();
  if (topics.length) await admin?.deleteTopics({ topics }).catch(() => undefined);
  await admin?.disconnect();
});

async function topic(partitions = 4): Promise<string> {
  const name = uniqueName('rwtest-an-events');
  await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  topics.push(name);
  return name;
}

function event(i: number, client: string): CallEvent {
  return { v: 1, ts: 1_700_000_000_000 + i, pod: 'p', service: 'api', method: 'GET', route: `/api/items/${i}`, status: 200, latencyMs: 5, bytesIn: 0, bytesOut: 100, ip: '10.0.0.1', client, user: null, uaHash: null, decision: 'allowed', rule: null, cost: 1 };
}

async function produce(name: string, from: number, count: number): Promise<void> {
  const messages = Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const client = `ip:10.1.${i % 37}.1`;
    return { key: client, value: encodeCallEvent(event(i, client)) };
  });
  await producer.send({ topic: name, messages });
}

interface Member {
  readonly source: KafkaEventSource;
  readonly seen: Map<number, number>;
  readonly revoked: number[];
  readonly partitions: () => number[];
}

function member(name: string, group: string): Member {
  const seen = new Map<number, number>();
  const revoked: number[] = [];
  const source = new KafkaEventSource({ kafka, topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, onRevoked: (p) => void revoked.push(...p) });
  sources.push(source);
  void source.run(async (events) => {
    for (const e of events) seen.set(e.ts, (seen.get(e.ts) ?? 0) + 1);
  });
  return { source, seen, revoked, partitions: () => source.partitions };
}

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('two instances split the partitions and handle every event exactly once across the rebalance', { timeout: 90_000 }, async () => {
  const name = await topic(4);
  const group = uniqueName('rwtest-an-group');
  const a = member(name, group);
  await until('the first member to own every partition', () => a.partitions().length === 4);
  await produce(name, 0, 400);
  await until('the first 400 events', () => a.seen.size === 400);
  const b = member(name, group);
  await until('the partitions to be split', () => a.partitions().length > 0 && b.partitions().length > 0 && a.partitions().length + b.partitions().length === 4, 45_000);
  assert.deepEqual([...a.partitions(), ...b.partitions()].sort(), [0, 1, 2, 3], 'disjoint and complete');
  assert.ok(a.revoked.length > 0, 'the first member was told which partitions it lost');
  await produce(name, 400, 400);
  await until('all 800 events', () => new Set([...a.seen.keys(), ...b.seen.keys()]).size === 800, 45_000);
  await new Promise((r) => setTimeout(r, 1_000));
  const duplicates = [...a.seen.values(), ...b.seen.values()].filter((n) => n > 1).length + [...a.seen.keys()].filter((k) => b.seen.has(k)).length;
  assert.equal(duplicates, 0, 'no event was handled twice');
  assert.ok([...b.seen.keys()].some((ts) => ts >= 1_700_000_000_400), 'the second member consumed');
});

test('offsets are committed only after the handler finished updating state', { timeout: 60_000 }, async () => {
  const name = await topic(1);
  const group = uniqueName('rwtest-an-group');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let handled = 0;
  const source = new KafkaEventSource({ kafka, topic: name, groupId: group, fromBeginning: true });
  sources.push(source);
  await produce(name, 0, 50);
  void source.run(async (events) => {
    await gate;
    handled += events.length;
  });
  await new Promise((r) => setTimeout(r, 4_000));
  const committedBefore = await admin.fetchOffsets({ groupId: group, topics: [name] });
  assert.equal(handled, 0);
  assert.equal(committedBefore[0]!.partitions[0]!.offset, '-1', 'nothing committed while the handler runs');
  release();
  await until('the batch to be handled', () => handled === 50);
  let committed = '-1';
  for (let i = 0; i < 50 && committed !== '50'; i++) {
    committed = (await admin.fetchOffsets({ groupId: group, topics: [name] }))[0]!.partitions[0]!.offset;
    if (committed !== '50') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(committed, '50', 'the next offset to read');
  await source.stop();
});

test('undecodable messages are counted and skipped; the rest is delivered and committed', { timeout: 60_000 }, async () => {
  const name = await topic(1);
  const group = uniqueName('rwtest-an-group');
  await producer.send({
    topic: name,
    messages: [
      { key: 'x', value: encodeCallEvent(event(1, 'ip:10.0.0.1')) },
      { key: 'x', value: 'not json' },
      { key: 'x', value: JSON.stringify({ v: 1, ts: 'yesterday' }) },
      { key: 'x', value: JSON.stringify({ ...event(2, 'ip:10.0.0.1'), v: 9 }) },
      { key: 'x', value: encodeCallEvent(event(3, 'ip:10.0.0.1')) },
    ],
  });
  const bad: string[] = [];
  const good: CallEvent[] = [];
  const source = new KafkaEventSource({ kafka, topic: name, groupId: group, fromBeginning: true });
  sources.push(source);
  void source.run(
    async (events) => void good.push(...events),
    (error) => void bad.push(error),
  );
  await until('all five messages', () => good.length + bad.length === 5);
  assert.deepEqual(good.map((e) => e.ts), [1_700_000_000_001, 1_700_000_000_003]);
  assert.equal(bad.length, 3);
  assert.equal(source.stats.bad, 3);
  let committed = '-1';
  for (let i = 0; i < 50 && committed !== '5'; i++) {
    committed = (await admin.fetchOffsets({ groupId: group, topics: [name] }))[0]!.partitions[0]!.offset;
    if (committed !== '5') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(committed, '5', 'skipped messages do not stall the partition');
  await source.stop();
});

/** The group's committed offset of the topic's partition 0. */
async function committedOffset(group: string, name: string): Promise<string> {
  return (await admin.fetchOffsets({ groupId: group, topics: [name] }))[0]!.partitions[0]!.offset;
}

/** The committed offset once it is `want`, or what it is after 5 s. */
async function offsetBecomes(group: string, name: string, want: string): Promise<string> {
  let got = await committedOffset(group, name);
  for (let i = 0; i < 50 && got !== want; i++) {
    await new Promise((r) => setTimeout(r, 100));
    got = await committedOffset(group, name);
  }
  return got;
}

test('with a scored-until mark, the commit waits at the oldest window not scored and follows the mark', { timeout: 60_000 }, async () => {
  const name = await topic(1);
  const group = uniqueName('rwtest-an-group');
  let mark = Number.NEGATIVE_INFINITY;
  const source = new KafkaEventSource({ kafka, topic: name, groupId: group, fromBeginning: true, scoredUntil: () => mark, commitEveryMs: 200 });
  sources.push(source);
  // offsets 0–9 in the window ending T+10 s, 10–19 in the window ending T+20 s
  const T = 1_700_000_000_000;
  await producer.send({ topic: name, messages: Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: encodeCallEvent({ ...event(i, 'ip:10.0.0.1'), ts: T + (i < 10 ? 1_000 : 11_000) + i }) })) });
  let handled = 0;
  void source.run(async (events) => void (handled += events.length));
  await until('all 20 handled', () => handled === 20);
  assert.equal(await offsetBecomes(group, name, '0'), '0');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await committedOffset(group, name), '0', 'nothing scored: held at the first window');
  mark = T + 10_000;
  assert.equal(await offsetBecomes(group, name, '10'), '10', 'the first window scored: held at the second');
  mark = T + 20_000;
  assert.equal(await offsetBecomes(group, name, '20'), '20', 'everything scored: the end');
  await source.stop();
});

test('an event time far ahead of the clock is counted as bad and skipped at the source, so it never holds the commit back', { timeout: 60_000 }, async () => {
  const name = await topic(1);
  const group = uniqueName('rwtest-an-group');
  let mark = Number.NEGATIVE_INFINITY;
  const source = new KafkaEventSource({ kafka, topic: name, groupId: group, fromBeginning: true, scoredUntil: () => mark, commitEveryMs: 200 });
  sources.push(source);
  const T = 1_700_000_000_000;
  // offsets 0–19 over two windows; offset 5 stamped by a sidecar whose clock is a year ahead
  const future = Date.now() + 365 * 86_400_000;
  await producer.send({ topic: name, messages: Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: encodeCallEvent({ ...event(i, 'ip:10.0.0.1'), ts: i === 5 ? future : T + (i < 10 ? 1_000 : 11_000) + i }) })) });
  const handled: CallEvent[] = [];
  const bad: string[] = [];
  void source.run(
    async (events) => void handled.push(...events),
    (error) => void bad.push(error),
  );
  await until('19 handled, 1 skipped', () => handled.length === 19 && bad.length === 1);
  assert.equal(source.stats.bad, 1);
  assert.match(bad[0]!, /ahead of the analyzer's clock/);
  assert.ok(handled.every((e) => e.ts < future));
  mark = T + 20_000;
  assert.equal(await offsetBecomes(group, name, '20'), '20', 'every window scored: the commit reaches the end');
  await source.stop();
});

test('with held-back commits, a partition kept across a rebalance is not read twice', { timeout: 90_000 }, async () => {
  const name = await topic(4);
  const group = uniqueName('rwtest-an-group');
  // nothing is ever scored: every commit stays at the start of the partitions
  const held = (): KafkaEventSource => {
    const s = new KafkaEventSource({ kafka, topic: name, groupId: group, fromBeginning: true, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, scoredUntil: () => Number.NEGATIVE_INFINITY });
    sources.push(s);
    return s;
  };
  const seenA = new Map<number, Map<number, number>>();
  const a = held();
  void a.run(async (events, meta) => {
    const m = seenA.get(meta.partition) ?? new Map<number, number>();
    seenA.set(meta.partition, m);
    for (const e of events) m.set(e.ts, (m.get(e.ts) ?? 0) + 1);
  });
  await until('the first member to own every partition', () => a.partitions.length === 4);
  await produce(name, 0, 400);
  await until('the first 400 events', () => [...seenA.values()].reduce((n, m) => n + m.size, 0) === 400);
  const b = held();
  const seenB = new Set<number>();
  void b.run(async (events) => void events.forEach((e) => seenB.add(e.ts)));
  await until('the partitions to be split', () => a.partitions.length > 0 && b.partitions.length > 0 && a.partitions.length + b.partitions.length === 4, 45_000);
  await produce(name, 400, 400);
  await until('all 800 events', () => new Set([...[...seenA.values()].flatMap((m) => [...m.keys()]), ...seenB]).size === 800, 45_000);
  await new Promise((r) => setTimeout(r, 1_000));
  for (const p of a.partitions) {
    const twice = [...(seenA.get(p) ?? new Map<number, number>()).values()].filter((n) => n > 1).length;
    assert.equal(twice, 0, `partition ${p}, kept by the first member, read once`);
  }
  assert.ok([...seenB].some((ts) => ts < 1_700_000_000_400), 'the new owner read its partitions from the held-back offsets');
});
