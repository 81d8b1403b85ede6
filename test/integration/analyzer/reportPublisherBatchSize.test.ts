/**
 * The anomaly report publisher on the real test broker: what piles up in its queue (a burst of
 * reports, or everything kept while Kafka was away) must still reach the topic. It used to send
 * the whole queue as one request: 800 reports of ~2.5 KB on one partition is past the broker's
 * message.max.bytes (1 MiB by default), the broker answered MESSAGE_TOO_LARGE, the same batch was
 * put back and retried, and no report ever reached the topic again (published 0, errors growing).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, Kafka } from 'kafkajs';
import { KafkaReportPublisher } from '../../../analyzer/reports/publisher.js';
import { decodeAnomalyReport } from '../../../models/anomaly.js';
import { report } from '../../unit/analyzer/reportStoreContract.js';
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
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
});

async function topicOffsets(topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
}

test('a queue far past the broker request size reaches the topic in batches the broker takes', async () => {
  const topic = uniqueName('it-anomalies-burst');
  topics.push(topic);
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const errors: string[] = [];
  const p = new KafkaReportPublisher(kafka, { topic, lingerMs: 60_000, onError: (e) => errors.push(e.message) });
  const n = 800;
  for (let i = 0; i < n; i++) p.publish(report(`burst${i}`, { summary: `burst ${i} `.padEnd(2_000, 'x') }));
  await p.flush();
  assert.deepEqual(errors, []);
  assert.deepEqual(p.stats, { published: n, dropped: 0, errors: 0 });
  assert.equal(await topicOffsets(topic), n);
  await p.close();
});

test('a topic with a small max.message.bytes: batches shrink until it takes them; a report too large alone is dropped and counted', async () => {
  const topic = uniqueName('it-anomalies-small');
  topics.push(topic);
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }], waitForLeaders: true });
  const errors: string[] = [];
  const p = new KafkaReportPublisher(kafka, { topic, lingerMs: 60_000, onError: (e) => errors.push(e.message) });
  p.publish(report('huge', { summary: 'h'.repeat(4_000), explanation: Array.from({ length: 6 }, (_, i) => ({ feature: `f${i}`, observed: 1, baseline: 0, spread: 0, z: 0, text: 't'.repeat(512) })), history: Array.from({ length: 20 }, (_, i) => ({ ts: i, who: 'ops', what: 'noted', note: 'n'.repeat(1_000) })) }));
  for (let i = 0; i < 50; i++) p.publish(report(`small${i}`, { summary: `small ${i} `.padEnd(1_500, 'x') }));
  await p.flush();
  assert.deepEqual(p.stats, { published: 50, dropped: 1, errors: 0 });
  assert.equal(errors.length, 1, 'the refused report is reported once');
  assert.equal(await topicOffsets(topic), 50);
  // what reached the topic is the reports, in order
  const consumer = kafka.consumer({ groupId: uniqueName('it-anomalies-read') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const ids: string[] = [];
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const d = decodeAnomalyReport(message.value!);
        assert.ok(d.ok);
        ids.push(d.value.id);
        if (ids.length === 50) resolve();
      },
    });
  });
  await consumer.disconnect();
  assert.deepEqual(ids, Array.from({ length: 50 }, (_, i) => `small${i}`));
  await p.close();
});
