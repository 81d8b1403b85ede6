/**
 * Paging through a report store while reports arrive and change: a page must continue exactly
 * after the last item the operator saw — no item twice, none skipped — and a cursor that is not one
 * the store handed out is refused instead of silently restarting at the newest page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReportStore } from '../../../analyzer/reports/store.js';
import { NOW, report } from '../analyzer/reportStoreContract.js';

export function reportStorePaging(name: string, make: () => Promise<ReportStore>): void {
  test(`${name}: a report detected between two pages does not repeat an item on the next page`, async () => {
    const store = await make();
    for (let i = 0; i < 6; i++) await store.create(report(`p${i}`, { ts: NOW + i * 1000 }));
    const first = await store.list({ limit: 3 });
    assert.deepEqual(first.items.map((r) => r.id), ['p5', 'p4', 'p3']);
    // a new anomaly arrives while the operator reads the first page
    await store.create(report('p6', { ts: NOW + 6000 }));
    const second = await store.list({ limit: 3, cursor: first.next! });
    assert.deepEqual(second.items.map((r) => r.id), ['p2', 'p1', 'p0']);
  });

  test(`${name}: a status change between two pages of a status filter does not skip an item`, async () => {
    const store = await make();
    for (let i = 0; i < 6; i++) await store.create(report(`s${i}`, { ts: NOW + i * 1000, status: 'open', action: { kind: 'observe', applied: false } }));
    const first = await store.list({ status: 'open', limit: 3 });
    assert.deepEqual(first.items.map((r) => r.id), ['s5', 's4', 's3']);
    // the operator dismisses one of the reports on the first page
    await store.transition('s4', { from: ['open'], to: 'dismissed', entry: { ts: NOW + 10_000, who: 'ops', what: 'dismissed' } });
    const second = await store.list({ status: 'open', limit: 3, cursor: first.next! });
    assert.deepEqual(second.items.map((r) => r.id), ['s2', 's1', 's0']);
  });

  test(`${name}: equal detection times page in a stable order without repeats`, async () => {
    const store = await make();
    const ids = ['e0', 'e1', 'e2', 'e3', 'e4'];
    for (const id of ids) await store.create(report(id, { ts: NOW }));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await store.list({ limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((r) => r.id));
      if (!page.next) break;
      cursor = page.next;
    }
    assert.deepEqual(seen, [...ids].reverse());
  });

  test(`${name}: a page that ends exactly at the last report has no next cursor`, async () => {
    const store = await make();
    for (let i = 0; i < 4; i++) await store.create(report(`x${i}`, { ts: NOW + i }));
    const page = await store.list({ limit: 4 });
    assert.equal(page.items.length, 4);
    assert.equal(page.next, null);
  });

  test(`${name}: a cursor it never handed out is refused`, async () => {
    const store = await make();
    for (let i = 0; i < 3; i++) await store.create(report(`c${i}`, { ts: NOW + i }));
    for (const bad of ['garbage', '-5', '1.5']) {
      await assert.rejects(store.list({ limit: 2, cursor: bad }), /cursor/, `cursor ${bad}`);
    }
  });
}
