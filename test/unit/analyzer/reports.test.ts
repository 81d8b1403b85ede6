import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAnomalyReport, encodeAnomalyReport } from '../../../models/anomaly.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
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
