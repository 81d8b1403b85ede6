import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, Kafka } from 'kafkajs';
import { decodeCallEvent, encodeCallEvent, type CallEvent } from '../../../models/events.js';
import { driveKafka } from '../../../simulator/drivers/kafka.js';
import { createSimulation } from '../../../simulator/generate.js';
import { defaultScenarios } from '../../../simulator/scenarios.js';
import { requireKafka, uniqueName } from '../../helpers/infra.js';

let kafka: Kafka;
let admin: Admin;
const topics: string[] = [];

before(async () => {
  kafka = await requireKafka();
  admin = kafka.admin();
  await admin.connect();
});

after(async () => {
  await admin.deleteTopics({ topics, timeout: 5_000 }).catch(() => undefined);
  await admin.disconnect();
});

async function newTopic(): Promise<string> {
  const topic = uniqueName('rw-sim');
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  topics.push(topic);
  return topic;
}

/** Reads `count` messages from the start of `topic` (fails after `timeoutMs`). */
async function readBack(topic: string, count: number, timeoutMs = 20_000): Promise<Array<{ key: string; value: string; partition: number }>> {
  const consumer = kafka.consumer({ groupId: uniqueName('rw-sim-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const out: Array<{ key: string; value: string; partition: number }> = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${count} messages in ${timeoutMs} ms`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          out.push({ key: message.key!.toString(), value: message.value!.toString(), partition });
          if (out.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

test('the Kafka driver writes N simulated events, keyed by client, that a consumer reads back unchanged', async () => {
  const topic = await newTopic();
  const sim = createSimulation({ seed: 1, duration: '10m', population: { clients: 80 }, scenarios: defaultScenarios(10 * 60_000) });
  const source: CallEvent[] = [...sim.events()].slice(0, 3_000);
  const stats = await driveKafka({ kafka, topic, events: source, ratePerSec: 5_000, durationMs: 15_000, timestamps: 'source', compression: 'gzip', batchSize: 250 }).done;
  assert.equal(stats.sent, 3_000);
  assert.equal(stats.failedEvents, 0);
  const messages = await readBack(topic, 3_000);
  assert.equal(messages.length, 3_000);
  const expected = source.map(encodeCallEvent).sort();
  assert.deepEqual(messages.map((m) => m.value).sort(), expected);
  const partitionOf = new Map<string, number>();
  for (const m of messages) {
    const decoded = decodeCallEvent(m.value);
    assert.ok(decoded.ok);
    assert.equal(m.key, decoded.value.client);
    // keyed messages: one client always lands on one partition
    if (partitionOf.has(m.key)) assert.equal(partitionOf.get(m.key), m.partition);
    partitionOf.set(m.key, m.partition);
  }
  assert.ok(new Set(messages.map((m) => m.partition)).size > 1);
});

test('the Kafka driver holds its rate, stamps wall-clock times and stops at its duration', async () => {
  const topic = await newTopic();
  const sim = createSimulation({ seed: 2, duration: Infinity, population: { clients: 50 } });
  const t0 = Date.now();
  const stats = await driveKafka({ kafka, topic, events: sim.events(), ratePerSec: 1_000, durationMs: 2_000 }).done;
  const t1 = Date.now();
  assert.ok(stats.elapsedMs < 3_500, `took ${stats.elapsedMs} ms`);
  assert.ok(Math.abs(stats.sent - 2_000) <= 200, `sent ${stats.sent}`);
  assert.ok(Math.abs(stats.achievedRatePerSec - 1_000) <= 150, `rate ${stats.achievedRatePerSec}/s`);
  const messages = await readBack(topic, stats.sent);
  const perPartition = new Map<number, number>();
  for (const m of messages) {
    const e = decodeCallEvent(m.value);
    assert.ok(e.ok);
    assert.ok(e.value.ts >= t0 - 1_000 && e.value.ts <= t1, `ts ${e.value.ts} outside the run`);
    assert.ok(e.value.ts >= (perPartition.get(m.partition) ?? 0), 'ts non-decreasing within a partition');
    perPartition.set(m.partition, e.value.ts);
  }
});

test('a stopped Kafka driver reports what it had sent', async () => {
  const topic = await newTopic();
  const sim = createSimulation({ seed: 3, duration: Infinity, population: { clients: 20 } });
  const driver = driveKafka({ kafka, topic, events: sim.events(), ratePerSec: 2_000, durationMs: 60_000 });
  await new Promise((r) => setTimeout(r, 800));
  const stats = await driver.stop();
  assert.ok(stats.elapsedMs < 3_000);
  assert.ok(stats.sent > 500 && stats.sent < 4_000, `sent ${stats.sent}`);
});
