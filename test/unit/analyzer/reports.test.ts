import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAnomalyReport, encodeAnomalyReport } from '../../../models/anomaly.js';
import type { Kafka } from 'kafkajs';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { KafkaReportPublisher, RETRY_BASE_MS } from '../../../analyzer/reports/publisher.js';
import { reportIdFor } from '../../../analyzer/analyzer.js';
import { reportStoreContract, report } from './reportStoreContract.js';

reportStoreContract('memory store', async () => new MemoryReportStore());

test('the memory store is bounded: the oldest reports go first and are counted', async () => {
  const store = new MemoryReportStore(3);
  for (let i = 0; i < 5; i++) await store.create(report(`b${i}`, { ts: i }));
  assert.equal(store.size, 3);
  assert.equal(store.dropped, 2);
  assert.equal(await store.get('b0'), null);
});

test('a report round-trips through the codec and a broken one is refused with its path', () => {
  const r = report('c1');
  const decoded = decodeAnomalyReport(encodeAnomalyReport(r));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.value, r);
  const bad = decodeAnomalyReport(JSON.stringify({ ...r, score: 1.5 }));
  assert.ok(!bad.ok && /score/.test(bad.error));
  const badHistory = decodeAnomalyReport(JSON.stringify({ ...r, history: [{ ts: 1, who: 'x' }] }));
  assert.ok(!badHistory.ok && /history\[0\]\.what/.test(badHistory.error));
});

test('report ids are deterministic per client and window, and distinct across both', () => {
  assert.equal(reportIdFor('ip:10.0.0.1', 1_000, 10_000), reportIdFor('ip:10.0.0.1', 1_000, 10_000));
  assert.notEqual(reportIdFor('ip:10.0.0.1', 1_000, 10_000), reportIdFor('ip:10.0.0.2', 1_000, 10_000));
  assert.notEqual(reportIdFor('ip:10.0.0.1', 1_000, 10_000), reportIdFor('ip:10.0.0.1', 1_000, 60_000));
  assert.match(reportIdFor('ip:10.0.0.1', 1_000, 10_000), /^[0-9a-z]+-[0-9a-f]{16}$/);
});

/** A broker that refuses the first `failures` sends, recording when each send was tried. */
function flakyKafka(failures: number) {
  const attempts: number[] = [];
  const sent: Array<{ key: string; value: string }> = [];
  const producer = {
    connect: async () => {},
    disconnect: async () => {},
    send: async (r: { messages: Array<{ key: string; value: string }> }) => {
      attempts.push(performance.now());
      if (attempts.length <= failures) throw new Error('broker down');
      sent.push(...r.messages);
    },
  };
  return { kafka: { producer: () => producer } as unknown as Kafka, attempts, sent };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

test('a failed publish is retried by itself, with growing backoff, until the broker takes it', async () => {
  const broker = flakyKafka(2);
  const p = new KafkaReportPublisher(broker.kafka, { lingerMs: 5 });
  p.publish(report('p1'));
  await until(() => broker.sent.length > 0, 3_000);
  assert.equal(broker.attempts.length, 3, 'two failures, then the retry that went through');
  assert.deepEqual(broker.sent.map((m) => m.key), [report('p1').client]);
  assert.deepEqual(p.stats, { published: 1, dropped: 0, errors: 2 });
  const [a, b, c] = broker.attempts as [number, number, number];
  assert.ok(b - a >= RETRY_BASE_MS - 5 && c - b >= 2 * RETRY_BASE_MS - 5, `retried after ${Math.round(b - a)} then ${Math.round(c - b)} ms`);
  await p.close();
});

test('a closed publisher stops retrying', async () => {
  const broker = flakyKafka(Infinity);
  const p = new KafkaReportPublisher(broker.kafka, { lingerMs: 5 });
  p.publish(report('p2'));
  await until(() => broker.attempts.length > 0, 1_000);
  await p.close(); // one last try, which fails too
  const tried = broker.attempts.length;
  await new Promise((r) => setTimeout(r, 4 * RETRY_BASE_MS));
  assert.equal(broker.attempts.length, tried);
});
