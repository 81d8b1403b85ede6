/**
 * A topic whose max.message.bytes holds far fewer events than the sink's batch size, on the real
 * test broker. The broker is healthy: it answers MESSAGE_TOO_LARGE, the sink retries in halves, and
 * batches grow back after each success (so about every other request is too large). None of that is
 * an outage, so none of it may wait on the outage backoff (100 ms … 5 s per failure): it used to,
 * and a healthy broker then took ~1 000 events/s — 74 100 events published over 5 s, 4 984
 * delivered, 69 116 dropped.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../../../models/infra.js';
import { KafkaEventSink, kafkajsProducer, type EncodedEvent, type EventProducer } from '../../../sidecar/events/kafkaSink.js';
import { LeanKafkaProducer, PartialSendError } from '../../../sidecar/events/leanProducer.js';
import { callEvent } from '../../../sidecar/events/callEvent.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { kafkaBrokers, requireKafka, uniqueName } from '../../helpers/infra.js';
import { waitFor } from '../../helpers/proc.js';

let kafka: Kafka;
before(async () => {
  kafka = await requireKafka();
});

const N = 30_000;

for (const kind of ['lean', 'kafkajs'] as const) {
  test(`${kind}: batches the topic finds too large are retried at once, smaller — no outage backoff on a healthy broker`, async () => {
    const topic = uniqueName('it-toolarge');
    const admin = kafka.admin();
    await admin.connect();
    // ~20 KB a batch: about 65 of these ~300-byte events, against a batch size of 1 000
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }], waitForLeaders: true });
    const inner: EventProducer =
      kind === 'lean'
        ? new LeanKafkaProducer({ brokers: kafkaBrokers(), topic, clientId: 'it-toolarge', compression: 'none' })
        : kafkajsProducer(createKafka({ brokers: kafkaBrokers(), ssl: false, caFile: null, sasl: null }, 'it-toolarge'), topic, 'none');
    let tooLarge = 0;
    const producer: EventProducer = {
      connect: () => inner.connect(),
      disconnect: () => inner.disconnect(),
      async send(messages: readonly EncodedEvent[]) {
        try {
          await inner.send(messages);
        } catch (err) {
          if (err instanceof PartialSendError && err.tooLarge) tooLarge++;
          throw err;
        }
      },
    };
    const metrics = createSidecarMetrics();
    const sink = new KafkaEventSink({ producer, bufferSize: N, lingerMs: 20, batchSize: 1_000, metrics });
    sink.start();
    for (let i = 0; i < N; i++) {
      sink.publish(callEvent({ ts: Date.now(), pod: 'p', service: 's', method: 'GET', path: `/n/${i}`, status: 200, latencyMs: 1, bytesIn: 0, bytesOut: 1, ip: '10.0.0.1', client: `ip:10.0.0.${i % 50}`, user: null, uaHash: null, decision: 'allowed', rule: 'r', cost: 1, tier: 'free' }));
    }
    try {
      // ~460 batches, about as many too-large answers: with a backoff of ≥ 100 ms after each, this
      // takes ≥ 46 s whatever the host's speed; without, ~900 round trips to a local broker
      await waitFor(() => sink.sent === N, `all ${N} delivered`, 30_000, 50).catch(() => undefined);
      assert.equal(sink.sent, N, `all delivered within 30 s (dropped ${sink.dropped}, too-large answers ${tooLarge})`);
    } finally {
      await sink.close(1_000);
    }
    assert.ok(tooLarge > 0, 'the broker found batches too large');
    assert.equal(sink.dropped, 0);
    assert.equal((await metrics.eventsSent.get()).values[0]!.value, N);
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    assert.equal(Number(offsets[0]!.high), N, 'each event on the topic once');
  });
}
