/**
 * One partition without a leader (its broker down, a long leader election) while the others are
 * healthy: the sink retries only that partition's events (kafkaSink.ts, "A partial failure retries
 * only the partitions that failed"), and the healthy partitions keep their throughput — they are
 * not held to one batch per backoff (up to 5 s), nor queued behind the failing partition's events
 * until the buffer drops them. A client's events stay in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaEventSink, type EncodedEvent, type EventProducer } from '../../../sidecar/events/kafkaSink.js';
import { PartialSendError } from '../../../sidecar/events/leanProducer.js';
import { callEvent } from '../../../sidecar/events/callEvent.js';

function event(client: string, n: number) {
  return callEvent({ ts: 1, pod: 'p', service: 's', method: 'GET', path: `/x/${n}`, status: 200, latencyMs: 1, bytesIn: 0, bytesOut: 10, ip: '10.0.0.1', client, user: null, uaHash: null, decision: 'allowed', rule: null, cost: 1, tier: 'free' });
}

/** Every event keyed `ip:dead` is on a partition without a leader; the rest are acknowledged. */
class OnePartitionDown implements EventProducer {
  deadUp = false;
  delivered: EncodedEvent[] = [];
  async connect(): Promise<void> {}
  async send(messages: readonly EncodedEvent[]): Promise<void> {
    await new Promise((r) => setTimeout(r, 1));
    const failed = this.deadUp ? [] : messages.filter((m) => m.key === 'ip:dead');
    for (const m of messages) if (!failed.includes(m)) this.delivered.push(m);
    if (failed.length > 0) throw new PartialSendError('no leader for partition 3', failed);
  }
  async disconnect(): Promise<void> {}
}

test('healthy partitions keep flowing while one partition has no leader; its events follow, in order, when it is back', async () => {
  const producer = new OnePartitionDown();
  const sink = new KafkaEventSink({ producer, bufferSize: 5_000, lingerMs: 5, batchSize: 50 });
  sink.start();
  try {
    await run(producer, sink);
  } finally {
    await sink.close(100); // a failed assertion must not leave the sink retrying for ever
  }
});

async function run(producer: OnePartitionDown, sink: KafkaEventSink): Promise<void> {
  // 2 s at 1,000 events/s, one event in ten for the client on the dead partition
  let n = 0;
  const healthy = 1_800;
  for (let tick = 0; tick < 200; tick++) {
    for (let j = 0; j < 10; j++, n++) sink.publish(event(j === 0 ? 'ip:dead' : `ip:10.0.${j}.1`, n));
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 300));
  const healthyDelivered = producer.delivered.filter((m) => m.key !== 'ip:dead').length;
  assert.ok(healthyDelivered >= healthy * 0.95, `healthy partitions delivered ${healthyDelivered} of ${healthy}`);
  assert.equal(sink.dropped, 0, 'nothing dropped: the buffer is far from full');
  producer.deadUp = true;
  await sink.close(6_000);
  assert.equal(sink.dropped, 0);
  const dead = producer.delivered.filter((m) => m.key === 'ip:dead').map((m) => Number(JSON.parse(m.value).route.split('/')[2]));
  assert.equal(dead.length, 200, 'the dead partition\'s events all arrive once it is back');
  assert.deepEqual(dead, [...dead].sort((a, b) => a - b), 'in order');
  assert.equal(producer.delivered.length, 2_000, 'each event once');
  for (const c of ['ip:10.0.1.1', 'ip:10.0.5.1']) {
    const seq = producer.delivered.filter((m) => m.key === c).map((m) => Number(JSON.parse(m.value).route.split('/')[2]));
    assert.deepEqual(seq, [...seq].sort((a, b) => a - b), `${c} in order`);
  }
}

test('parked events share the buffer\'s bound: the oldest are dropped and counted, nothing is lost uncounted', async () => {
  const producer = new OnePartitionDown();
  const sink = new KafkaEventSink({ producer, bufferSize: 100, lingerMs: 1, batchSize: 20 });
  sink.start();
  try {
    let n = 0;
    for (let tick = 0; tick < 50; tick++) {
      // half the events for the client whose partition has no leader
      for (let j = 0; j < 20; j++, n++) sink.publish(event(j % 2 === 0 ? 'ip:dead' : `ip:10.0.${j}.1`, n));
      assert.ok(sink.buffered <= 100, `buffered ${sink.buffered} ≤ 100`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(sink.buffered <= 100);
    assert.ok(sink.dropped > 0, 'the dead partition\'s backlog overflowed the buffer');
  } finally {
    await sink.close(200);
  }
  assert.equal(sink.published, sink.sent + sink.dropped, 'after close: sent or dropped');
});
