import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { MemoryReportList } from '../../../analyzer/api/reportList.js';

function report(id: string, ts: number, client = 'ip:1.1.1.1', status: AnomalyReport['status'] = 'open'): AnomalyReport {
  return { v: 1, id, ts, client, window: { start: ts, end: ts, sizeMs: 0 }, score: 0.5, detectors: {}, explanation: [], summary: '', action: { kind: 'observe', applied: false }, status, history: [] };
}

test('pages run newest first and the cursor continues exactly where the last page ended', () => {
  const list = new MemoryReportList();
  for (let i = 0; i < 7; i++) list.put(report(`r${i}`, 1000 + i));
  list.put(report('r7', 1006)); // same ts as r6: id breaks the tie
  const seen: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = list.list({ limit: 3, ...(cursor ? { cursor } : {}) });
    seen.push(...page.items.map((r) => r.id));
    if (!page.next) break;
    cursor = page.next;
  }
  assert.deepEqual(seen, ['r7', 'r6', 'r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
});

test('a page that ends exactly at the last report has no next cursor', () => {
  const list = new MemoryReportList();
  for (let i = 0; i < 3; i++) list.put(report(`r${i}`, i));
  assert.equal(list.list({ limit: 3 }).next, null);
});

test('filters by status, client and since combine', () => {
  const list = new MemoryReportList();
  list.put(report('a', 10, 'ip:1.1.1.1', 'open'));
  list.put(report('b', 20, 'ip:2.2.2.2', 'open'));
  list.put(report('c', 30, 'ip:2.2.2.2', 'dismissed'));
  list.put(report('d', 5, 'ip:2.2.2.2', 'open'));
  assert.deepEqual(list.list({ limit: 10, status: 'open', client: 'ip:2.2.2.2', since: 10 }).items.map((r) => r.id), ['b']);
});

test('the list is bounded: the oldest reports are evicted and counted', () => {
  const list = new MemoryReportList(3);
  for (let i = 0; i < 5; i++) list.put(report(`r${i}`, i));
  assert.equal(list.size, 3);
  assert.equal(list.evicted, 2);
  assert.equal(list.get('r0'), null);
});
