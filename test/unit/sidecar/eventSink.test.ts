import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { CallEvent } from '../../../models/events.js';
import { RingBuffer } from '../../../sidecar/events/ringBuffer.js';
import { KafkaEventSink, MeteredEventSink, type EncodedEvent, type EventProducer } from '../../../sidecar/events/kafkaSink.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { callEvent, UserAgentHasher, MAX_ROUTE_LENGTH } from '../../../sidecar/events/callEvent.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { waitFor } from '../../helpers/proc.js';

describe('ring buffer', () => {
  test('keeps the newest items and returns the oldest it drops', () => {
    const r = new RingBuffer<number>(3);
    assert.equal(r.push(1), undefined);
    r.push(2);
    r.push(3);
    assert.equal(r.push(4), 1);
    assert.deepEqual(r.shift(10), [2, 3, 4]);
    assert.equal(r.size, 0);
  });

  test('items put back go to the front; what does not fit is reported', () => {
    const r = new RingBuffer<number>(4);
    r.push(5);
    r.push(6);
    assert.equal(r.unshift([1, 2, 3]), 1);
    assert.deepEqual(r.shift(10), [2, 3, 5, 6]);
  });
});

function event(i: number, client = `ip:10.0.0.${i % 250}`): CallEvent {
  return callEvent({ ts: 1, pod: 'p', service: 's', method: 'GET', path: `/x/${i}`, status: 200, latencyMs: 1.23456, bytesIn: 0, bytesOut: 10, ip: '10.0.0.1', client, user: null, uaHash: null, decision: 'allowed', rule: 'r', cost: 1, tier: 'free' });
}

/** A producer whose availability a test controls (the sink's logic, not Kafka, is under test here). */
class ControlledProducer implements EventProducer {
  up = true;
  delayMs = 0;
  batches: EncodedEvent[][] = [];
  connects = 0;
  async connect(): Promise<void> {
    this.connects++;
    if (!this.up) throw new Error('broker down');
  }
  async send(messages: readonly EncodedEvent[]): Promise<void> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (!this.up) throw new Error('broker down');
    this.batches.push([...messages]);
  }
  async disconnect(): Promise<void> {}
  get delivered(): EncodedEvent[] {
    return this.batches.flat();
  }
}

describe('Kafka event sink', () => {
  test('events go out in batches keyed by client, within the linger time', async () => {
    const producer = new ControlledProducer();
    const sink = new KafkaEventSink({ producer, bufferSize: 1000, lingerMs: 20, batchSize: 100 });
    sink.start();
    for (let i = 0; i < 250; i++) sink.publish(event(i));
    await waitFor(() => producer.delivered.length === 250, 'all delivered', 2_000, 5);
    assert.ok(producer.batches.every((b) => b.length <= 100));
    assert.equal(producer.delivered[7]!.key, 'ip:10.0.0.7');
    assert.equal(JSON.parse(producer.delivered[7]!.value).route, '/x/7');
    await sink.close();
  });

  test('publish never waits: it returns while the broker is slow', async () => {
    const producer = new ControlledProducer();
    producer.delayMs = 500;
    const sink = new KafkaEventSink({ producer, bufferSize: 10_000, lingerMs: 1, batchSize: 10 });
    sink.start();
    const t0 = performance.now();
    for (let i = 0; i < 5_000; i++) sink.publish(event(i));
    assert.ok(performance.now() - t0 < 500, 'publishing 5000 events took as long as one slow send');
    await sink.close(50);
  });

  test('while the broker is down the buffer fills, the oldest events are dropped and counted, the rest arrive after recovery', async () => {
    const producer = new ControlledProducer();
    producer.up = false;
    const metrics = createSidecarMetrics();
    const sink = new KafkaEventSink({ producer, bufferSize: 100, lingerMs: 1, batchSize: 10, metrics, maxBackoffMs: 20 });
    sink.start();
    for (let i = 0; i < 150; i++) sink.publish(event(i));
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(sink.buffered <= 100);
    producer.up = true;
    await waitFor(() => sink.buffered === 0 && producer.delivered.length + sink.dropped === 150, 'recovery', 3_000, 5);
    assert.equal(sink.dropped, 50);
    assert.equal((await metrics.eventsDropped.get()).values[0]!.value, 50);
    assert.equal((await metrics.eventsSent.get()).values[0]!.value, 100);
    // the survivors are the newest 100, in order
    const routes = producer.delivered.map((m) => Number(JSON.parse(m.value).route.split('/')[2]));
    assert.deepEqual(routes, Array.from({ length: 100 }, (_, i) => i + 50));
    await sink.close();
  });

  test('close flushes what is buffered', async () => {
    const producer = new ControlledProducer();
    const sink = new KafkaEventSink({ producer, bufferSize: 1000, lingerMs: 50, batchSize: 1000 });
    sink.start();
    for (let i = 0; i < 10; i++) sink.publish(event(i));
    await sink.close();
    assert.equal(producer.delivered.length, 10);
  });

  test('close is bounded in time when the broker stays down, and counts the undelivered events', async () => {
    const producer = new ControlledProducer();
    producer.up = false;
    const sink = new KafkaEventSink({ producer, bufferSize: 1000, lingerMs: 1, batchSize: 10 });
    sink.start();
    for (let i = 0; i < 20; i++) sink.publish(event(i));
    const t0 = Date.now();
    await sink.close(300);
    assert.ok(Date.now() - t0 < 2_000);
    assert.equal(sink.dropped, 20);
  });

  test('close leaves no timer of its own behind to hold the process up', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const producer = new ControlledProducer();
    producer.delayMs = 1; // a send in flight when close begins
    const sink = new KafkaEventSink({ producer, bufferSize: 1000, lingerMs: 1, batchSize: 10 });
    sink.start();
    for (let i = 0; i < 30; i++) sink.publish(event(i));
    await sink.close(2_000);
    assert.equal(sink.sent, 30);
    assert.equal(timers(), before);
  });
});

describe('call events', () => {
  test('routes are bounded and latency rounded to microseconds', () => {
    const e = callEvent({ ...event(1), path: '/a'.repeat(2000), latencyMs: 1.23456789 } as never);
    assert.equal(e.route.length, MAX_ROUTE_LENGTH);
    assert.equal(e.latencyMs, 1.235);
  });

  test('the User-Agent is sent only as a short digest', () => {
    const h = new UserAgentHasher();
    const ua = 'curl/8.0 (secret-ish build string)';
    const digest = h.hash(ua)!;
    assert.match(digest, /^[0-9a-f]{16}$/);
    assert.equal(h.hash(ua), digest);
    assert.equal(h.hash(undefined), null);
  });
});

describe('an injected sink under the event metrics', () => {
  test('counts every event handed over as sent and the bus\'s own drops as dropped', async () => {
    const metrics = createSidecarMetrics();
    const bus = new MemoryEventBus(3);
    const sink = new MeteredEventSink(bus, metrics);
    const e = { v: 1, ts: 1, client: 'ip:1.2.3.4' } as unknown as CallEvent; // the bus stores it as it is
    for (let i = 0; i < 5; i++) sink.publish(e);
    const text = await metrics.registry.metrics();
    assert.match(text, /^ratewarden_events_sent_total 5$/m);
    assert.match(text, /^ratewarden_events_dropped_total 2$/m);
    assert.equal(bus.buffered, 3);
  });
});
