/**
 * The sink at shutdown (kafkaSink.ts: "Shutdown flushes for up to 5 s"): a backoff left over from a
 * Kafka outage is shortened at shutdown, not waited out, so a broker that is back gets the buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaEventSink, type EncodedEvent, type EventProducer } from '../../../sidecar/events/kafkaSink.js';
import { callEvent } from '../../../sidecar/events/callEvent.js';

function event(i: number) {
  return callEvent({ ts: 1, pod: 'p', service: 's', method: 'GET', path: `/x/${i}`, status: 200, latencyMs: 1, bytesIn: 0, bytesOut: 10, ip: '10.0.0.1', client: `ip:10.0.0.${i % 250}`, user: null, uaHash: null, decision: 'allowed', rule: null, cost: 1, tier: 'free' });
}

class FlakyProducer implements EventProducer {
  up = false;
  failures = 0;
  delivered: EncodedEvent[] = [];
  async connect(): Promise<void> {
    if (!this.up) {
      this.failures++;
      throw new Error('broker down');
    }
  }
  async send(messages: readonly EncodedEvent[]): Promise<void> {
    if (!this.up) throw new Error('broker down');
    this.delivered.push(...messages);
  }
  async disconnect(): Promise<void> {}
}

test('close delivers to a broker that came back during the backoff, instead of waiting the backoff out', async () => {
  const producer = new FlakyProducer();
  const sink = new KafkaEventSink({ producer, bufferSize: 1000, lingerMs: 1, batchSize: 100, maxBackoffMs: 5_000 });
  sink.start();
  for (let i = 0; i < 50; i++) sink.publish(event(i));
  // failures 1..4: backoffs 100, 200, 400, 800 ms; after the 4th, the next attempt is 800 ms away
  while (producer.failures < 4) await new Promise((r) => setTimeout(r, 5));
  producer.up = true; // Kafka is back; SIGTERM arrives before the backoff ends
  const t0 = Date.now();
  await sink.close(500);
  assert.ok(Date.now() - t0 < 1_500, 'close stays bounded');
  assert.equal(producer.delivered.length, 50, 'everything buffered reached the broker');
  assert.equal(sink.dropped, 0);
});
