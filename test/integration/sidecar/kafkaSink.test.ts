/**
 * KafkaEventSink against the real test broker, with both producers (the lean one the sidecar uses,
 * and kafkajs used when SASL is configured): batched, gzip-compressed, keyed by client, every event
 * delivered once, and a shutdown that flushes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../../../models/infra.js';
import { decodeCallEvent, type CallEvent } from '../../../models/events.js';
import { KafkaEventSink, kafkajsProducer, type EventProducer } from '../../../sidecar/events/kafkaSink.js';
import { LeanKafkaProducer } from '../../../sidecar/events/leanProducer.js';
import { partitionForKey } from '../../../sidecar/events/kafkaWire.js';
import { callEvent } from '../../../sidecar/events/callEvent.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { kafkaBrokers, requireKafka, uniqueName } from '../../helpers/infra.js';
import { waitFor } from '../../helpers/proc.js';

let kafka: Kafka;
before(async () => {
  kafka = await requireKafka();
});

function event(i: number): CallEvent {
  return callEvent({ ts: Date.now(), pod: 'p', service: 's', method: 'GET', path: `/n/${i}`, status: 200, latencyMs: 1, bytesIn: 0, bytesOut: 1, ip: '10.0.0.1', client: `apiKey:${(i % 7).toString(16).padStart(16, '0')}`, user: null, uaHash: null, decision: 'allowed', rule: 'r', cost: 1, tier: 'free' });
}

async function consumeAll(topic: string, expected: number): Promise<Array<{ key: string; partition: number; event: CallEvent }>> {
  const consumer = kafka.consumer({ groupId: uniqueName('it-sink') });
  const out: Array<{ key: string; partition: number; event: CallEvent }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      const d = decodeCallEvent(message.value!);
      assert.ok(d.ok);
      out.push({ key: message.key!.toString(), partition, event: d.value });
    },
  });
  try {
    await waitFor(() => out.length >= expected, `${expected} events (have ${out.length})`, 30_000, 50);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

for (const kind of ['lean', 'kafkajs'] as const) {
  test(`${kind}: 2000 events are delivered once each, keyed by client, one client per partition, in order`, async () => {
  const topic = uniqueName('it-sink');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
  const metrics = createSidecarMetrics();
  const producer: EventProducer =
    kind === 'lean'
      ? new LeanKafkaProducer({ brokers: kafkaBrokers(), topic, clientId: 'it-sink', compression: 'gzip' })
      : kafkajsProducer(createKafka({ brokers: kafkaBrokers(), ssl: false, caFile: null, sasl: null }, 'it-sink'), topic, 'gzip');
  const sink = new KafkaEventSink({ producer, bufferSize: 10_000, lingerMs: 20, batchSize: 500, metrics });
  sink.start();
  for (let i = 0; i < 2000; i++) sink.publish(event(i));
  await sink.close();
  assert.equal(sink.sent, 2000);
  assert.equal(sink.dropped, 0);
  assert.equal((await metrics.eventsSent.get()).values[0]!.value, 2000);
  const got = await consumeAll(topic, 2000);
  assert.equal(got.length, 2000);
  for (const m of got) assert.equal(m.key, m.event.client);
  const byClient = new Map<string, Array<{ partition: number; n: number }>>();
  for (const m of got) {
    const list = byClient.get(m.key) ?? [];
    list.push({ partition: m.partition, n: Number(m.event.route.split('/')[2]) });
    byClient.set(m.key, list);
  }
  for (const [client, list] of byClient) {
    assert.equal(new Set(list.map((l) => l.partition)).size, 1, `${client} spread over partitions`);
    // the Java client's partitioner (murmur2), so any producer puts a client on the same partition
    assert.equal(list[0]!.partition, partitionForKey(client, 3));
    assert.deepEqual(list.map((l) => l.n), [...list.map((l) => l.n)].sort((a, b) => a - b), `${client} out of order`);
  }
});
}

for (const kind of ['lean', 'kafkajs'] as const) {
  test(`${kind}: batches the topic finds too large are sent smaller; an event too large on its own is dropped and counted, and nothing stalls`, async () => {
    const topic = uniqueName('it-large');
    const admin = kafka.admin();
    await admin.connect();
    // ~600 bytes a batch: one ordinary event fits, two do not, one with a 512-character route never does
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '600' }] }] });
    await admin.disconnect();
    const producer: EventProducer =
      kind === 'lean'
        ? new LeanKafkaProducer({ brokers: kafkaBrokers(), topic, clientId: 'it-large', compression: 'none' })
        : kafkajsProducer(createKafka({ brokers: kafkaBrokers(), ssl: false, caFile: null, sasl: null }, 'it-large'), topic, 'none');
    const metrics = createSidecarMetrics();
    const sink = new KafkaEventSink({ producer, bufferSize: 1000, lingerMs: 5, batchSize: 100, metrics, maxBackoffMs: 50 });
    sink.start();
    for (let i = 0; i < 20; i++) sink.publish(event(i));
    const huge = event(999);
    sink.publish({ ...huge, route: '/' + 'x'.repeat(511) });
    for (let i = 20; i < 40; i++) sink.publish(event(i));
    await waitFor(() => sink.sent + sink.dropped === 41, `all 41 settled (sent ${sink.sent}, dropped ${sink.dropped})`, 30_000, 20);
    await sink.close();
    assert.equal(sink.sent, 40);
    assert.equal(sink.dropped, 1);
    assert.equal((await metrics.eventsDropped.get()).values[0]!.value, 1);
    const got = await consumeAll(topic, 40);
    assert.deepEqual(
      got.map((m) => Number(m.event.route.split('/')[2])).sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i),
    );
  });
}

test('a sink whose broker is unreachable buffers without blocking and counts drops past its bound', async () => {
  const metrics = createSidecarMetrics();
  // a port nothing listens on
  const sink = new KafkaEventSink({
    producer: kafkajsProducer(createKafka({ brokers: ['127.0.0.1:1'], ssl: false, caFile: null, sasl: null }, 'it-sink-down'), 'nowhere', 'gzip'),
    bufferSize: 100,
    lingerMs: 5,
    batchSize: 10,
    metrics,
  });
  sink.start();
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) sink.publish(event(i));
  assert.ok(performance.now() - t0 < 200);
  assert.ok(sink.buffered <= 100);
  await sink.close(300);
  assert.equal(sink.sent, 0);
  assert.equal(sink.dropped, 1000);
});

test('lean: a topic that does not exist yet is created on first use and receives the events', async () => {
  const topic = uniqueName('it-sink-auto');
  const sink = new KafkaEventSink({ producer: new LeanKafkaProducer({ brokers: kafkaBrokers(), topic, clientId: 'it-sink', compression: 'none' }), bufferSize: 1_000, lingerMs: 5, batchSize: 100 });
  sink.start();
  for (let i = 0; i < 50; i++) sink.publish(event(i));
  await waitFor(() => sink.sent === 50, 'delivered to the auto-created topic', 20_000, 20);
  await sink.close();
  assert.equal((await consumeAll(topic, 50)).length, 50);
});

test('lean: partitions added to the topic get events once the layout is read again (metadataMaxAgeMs), with nothing failing', async () => {
  const topic = uniqueName('it-sink-grow');
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const sink = new KafkaEventSink({ producer: new LeanKafkaProducer({ brokers: kafkaBrokers(), topic, clientId: 'it-sink', compression: 'none', metadataMaxAgeMs: 300 }), bufferSize: 10_000, lingerMs: 5, batchSize: 100 });
    sink.start();
    const many = (from: number): void => {
      for (let i = from; i < from + 200; i++) sink.publish({ ...event(i), client: `apiKey:${i.toString(16).padStart(16, '0')}` });
    };
    many(0);
    await waitFor(() => sink.sent === 200, 'the first 200 delivered', 20_000, 20);
    await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] });
    await new Promise((r) => setTimeout(r, 400));
    // the first send after the max age starts the re-read; the ones after it use the new layout
    for (let round = 1; round <= 10; round++) {
      many(round * 200);
      await waitFor(() => sink.sent === (round + 1) * 200, `round ${round} delivered`, 20_000, 20);
      await new Promise((r) => setTimeout(r, 50));
    }
    await sink.close();
    assert.equal(sink.dropped, 0);
    const offsets = await admin.fetchTopicOffsets(topic);
    const perPartition = offsets.map((o) => Number(o.high));
    assert.equal(perPartition.length, 4);
    assert.equal(perPartition.reduce((a, b) => a + b, 0), 2_200);
    for (let p = 1; p < 4; p++) assert.ok(perPartition[offsets.findIndex((o) => o.partition === p)]! > 0, `partition ${p} got events: ${JSON.stringify(offsets)}`);
  } finally {
    await admin.disconnect();
  }
});
