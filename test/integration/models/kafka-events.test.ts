import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CompressionTypes, type Kafka } from 'kafkajs';
import { createTopics, deleteTopics, requireKafka, uniqueName } from '../../helpers/infra.js';
import { decodeCallEvent, encodeCallEvent, type CallEvent } from '../../../models/events.js';

describe('CallEvents on a real Kafka broker', () => {
  let kafka: Kafka;
  const topic = uniqueName('rwtest.events');
  before(async () => {
    kafka = await requireKafka();
    await createTopics(kafka, [{ topic, numPartitions: 3 }]);
  });
  after(async () => {
    await deleteTopics(kafka, [topic]);
  });

  test('events produced gzip-compressed and keyed by client are consumed back intact, in order per client', async () => {
    const events: CallEvent[] = Array.from({ length: 300 }, (_, i) => ({
      v: 1, ts: 1_733_356_800_000 + i, pod: 'p', service: 'api', method: 'GET', route: `/api/items/${i}`, status: 200,
      latencyMs: 1, bytesIn: 0, bytesOut: 10, ip: '10.0.0.1', client: `apiKey:${(i % 5).toString(16).padStart(16, '0')}`,
      user: null, uaHash: null, decision: 'allowed', rule: 'global', cost: 1,
    }));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, compression: CompressionTypes.GZIP, messages: events.map((e) => ({ key: e.client, value: encodeCallEvent(e) })) });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueName('rwtest-group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: CallEvent[] = [];
    let bad = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length} of 300 events arrived`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const d = decodeCallEvent(message.value!);
          if (!d.ok) bad++;
          else {
            assert.equal(message.key!.toString(), d.value.client);
            received.push(d.value);
          }
          if (received.length + bad === events.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    assert.equal(bad, 0);
    assert.equal(received.length, 300);
    for (let c = 0; c < 5; c++) {
      const key = `apiKey:${c.toString(16).padStart(16, '0')}`;
      const ts = received.filter((e) => e.client === key).map((e) => e.ts);
      assert.deepEqual(ts, [...ts].sort((a, b) => a - b), `events of ${key} out of order`);
    }
  });
});
