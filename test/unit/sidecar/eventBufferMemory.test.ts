/**
 * The event buffer's memory per event (docs/OPERATIONS.md: ≈ 300 bytes an event). An event is
 * encoded by string concatenation (encodeCallEventFast), and its route is a slice of the request
 * target the identity layer cut at the query: buffered as it was, the rope kept every piece alive —
 * and the slice its whole request target, a 15 KB query included, for as long as Kafka was away.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { parsePolicy } from '../../../models/policy/index.js';
import { IdentityResolver } from '../../../sidecar/identity/index.js';
import { callEvent } from '../../../sidecar/events/callEvent.js';
import { KafkaEventSink, type EncodedEvent, type EventProducer } from '../../../sidecar/events/kafkaSink.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Kafka away: nothing connects, so every event stays in the buffer. */
class DownProducer implements EventProducer {
  async connect(): Promise<void> {
    throw new Error('broker down');
  }
  async send(_messages: readonly EncodedEvent[]): Promise<void> {
    throw new Error('broker down');
  }
  async disconnect(): Promise<void> {}
}

const parsed = parsePolicy('version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 10, window: 1m }\n', { hashKey: undefined });
if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
const resolver = new IdentityResolver(parsed.policy, null, {});
const socket = new Socket();
Object.defineProperty(socket, 'remoteAddress', { value: '203.0.113.7' });

/** The event the handler publishes for a request to `url`, its path from the identity layer. */
function eventFor(url: string) {
  const req = { socket, headers: {}, headersDistinct: {}, rawHeaders: [], url, method: 'GET' } as unknown as IncomingMessage;
  const id = resolver.resolve(req);
  if (id instanceof Promise) throw new Error('no JWT here: resolved synchronously');
  const f = id.facts;
  return callEvent({ ts: 1, pod: 'pod-1', service: 'svc', method: 'GET', path: f.path, status: 200, latencyMs: 1.5, bytesIn: 0, bytesOut: 10, ip: f.ip, client: f.clientKey, user: f.user, uaHash: null, decision: 'allowed', rule: 'r', cost: 1, tier: f.tier });
}

test('a buffered event holds about its own text, not the request target its route was cut from (15 KB queries, Kafka down)', async () => {
  const N = 5_000;
  const sink = new KafkaEventSink({ producer: new DownProducer(), bufferSize: N, lingerMs: 1, batchSize: 100, maxBackoffMs: 60_000 });
  // warm the publish path up (optimised code must flatten too), then start afresh
  for (let i = 0; i < 20_000; i++) sink.publish(eventFor(`/api/v1/items/${String(i).padStart(8, '0')}?q=${i}`));
  const warm = new KafkaEventSink({ producer: new DownProducer(), bufferSize: N, lingerMs: 1, batchSize: 100, maxBackoffMs: 60_000 });
  await sink.close(1);
  gc();
  gc();
  const before = process.memoryUsage();
  const filler = 'x'.repeat(15_000);
  for (let i = 0; i < N; i++) warm.publish(eventFor(`/api/v1/items/${String(i).padStart(8, '0')}?q=${filler}${i}`));
  gc();
  gc();
  const after = process.memoryUsage();
  assert.equal(warm.buffered, N, 'every event is still buffered');
  const perEvent = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / N;
  // the event's JSON is ≈ 250 bytes; before the fix each one held its 15 KB request target (≈ 16.6 KB)
  assert.ok(perEvent < 1_000, `${Math.round(perEvent)} B held per buffered event`);
  await warm.close(1);
});
