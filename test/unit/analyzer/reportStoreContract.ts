/**
 * The ReportStore contract, run against the memory store (unit) and the Redis store (integration).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnomalyReport, AnomalyStatus } from '../../../models/anomaly.js';
import type { ReportStore } from '../../../analyzer/reports/store.js';

export const NOW = Date.UTC(2025, 0, 6, 12);

export function report(id: string, over: Partial<AnomalyReport> = {}): AnomalyReport {
  return {
    v: 1,
    id,
    ts: NOW,
    client: 'apiKey:00000000000000aa',
    tier: 'free',
    service: 'api',
    window: { start: NOW - 10_000, end: NOW, sizeMs: 10_000 },
    score: 0.8,
    detectors: { statistical: 0.5, credential_stuffing: 0.8 },
    explanation: [{ feature: 'ratio_401_403_10s', observed: 0.9, baseline: 0.01, spread: 0.05, z: 12, detector: 'credential_stuffing', text: 'credential stuffing' }],
    summary: 'credential stuffing',
    action: { kind: 'block', ttlMs: 600_000, until: NOW + 600_000, applied: true },
    status: 'actioned',
    history: [{ ts: NOW, who: 'analyzer@test', what: 'detected' }],
    ...over,
  };
}

export function reportStoreContract(name: string, make: () => Promise<ReportStore>): void {
  test(`${name}: a report is stored once and read back whole`, async () => {
    const store = await make();
    const r = report('a1');
    assert.equal(await store.create(r), true);
    assert.equal(await store.create({ ...r, summary: 'other' }), false, 'creating an existing id changes nothing');
    assert.deepEqual(await store.get('a1'), r);
    assert.equal(await store.get('missing'), null);
  });

  test(`${name}: a transition checks the status, sets it and appends history atomically`, async () => {
    const store = await make();
    await store.create(report('t1', { status: 'pending', action: { kind: 'block', ttlMs: 600_000, applied: false } }));
    const conflict = await store.transition('t1', { from: ['open'], to: 'confirmed', entry: { ts: NOW + 1, who: 'ops', what: 'confirmed' } });
    assert.equal(conflict.ok, false);
    assert.ok(!conflict.ok && conflict.reason === 'conflict' && conflict.report.status === 'pending');
    const ok = await store.transition('t1', { from: ['pending'], to: 'actioned', action: { kind: 'block', ttlMs: 600_000, until: NOW + 600_000, applied: true }, entry: { ts: NOW + 2, who: 'dana (admin)', what: 'approved', note: 'checked' } });
    assert.ok(ok.ok);
    assert.equal(ok.report.status, 'actioned');
    assert.equal(ok.report.action.applied, true);
    assert.deepEqual(ok.report.history.at(-1), { ts: NOW + 2, who: 'dana (admin)', what: 'approved', note: 'checked' });
    assert.equal((await store.transition('nope', { entry: { ts: 0, who: 'x', what: 'y' } })).ok, false);
    // the status index follows: listing by the new status finds it, by the old one does not
    assert.deepEqual((await store.list({ status: 'actioned' })).items.map((r) => r.id), ['t1']);
    assert.deepEqual((await store.list({ status: 'pending' })).items, []);
  });

  test(`${name}: details are refreshed without touching status or history`, async () => {
    const store = await make();
    await store.create(report('u1'));
    const updated = (await store.updateDetails('u1', { score: 0.97, detectors: { volumetric: 0.97 }, explanation: [], summary: 'worse' }))!;
    assert.equal(updated.score, 0.97);
    assert.equal(updated.summary, 'worse');
    assert.deepEqual(updated.explanation, []);
    assert.equal(updated.status, 'actioned');
    assert.equal(updated.history.length, 1);
  });

  test(`${name}: the list is newest first, filtered by status, client and time, and paged with a cursor`, async () => {
    const store = await make();
    const statuses: AnomalyStatus[] = ['open', 'actioned', 'dismissed'];
    for (let i = 0; i < 25; i++) await store.create(report(`l${String(i).padStart(2, '0')}`, { ts: NOW + i * 1_000, client: i % 2 ? 'ip:10.0.0.1' : 'ip:10.0.0.2', status: statuses[i % 3]! }));
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const p = await store.list({ limit: 10, ...(cursor ? { cursor } : {}) });
      ids.push(...p.items.map((r) => r.id));
      if (!p.next) break;
      cursor = p.next;
    }
    assert.deepEqual(ids, Array.from({ length: 25 }, (_, i) => `l${String(24 - i).padStart(2, '0')}`));
    const mine = await store.list({ client: 'ip:10.0.0.1', status: 'open', limit: 50 });
    assert.ok(mine.items.length > 0);
    assert.ok(mine.items.every((r) => r.client === 'ip:10.0.0.1' && r.status === 'open'));
    const recent = await store.list({ since: NOW + 20_000 });
    assert.deepEqual(recent.items.map((r) => r.id), ['l24', 'l23', 'l22', 'l21', 'l20']);
  });

  test(`${name}: retention trims reports older than the retention`, async () => {
    const store = await make();
    await store.create(report('old', { ts: NOW - 8 * 86_400_000 }));
    await store.create(report('new', { ts: NOW }));
    assert.equal(await store.trim(NOW, 7 * 86_400_000), 1);
    assert.equal(await store.get('old'), null);
    assert.ok(await store.get('new'));
    assert.deepEqual((await store.list({ client: 'apiKey:00000000000000aa' })).items.map((r) => r.id), ['new']);
  });

  // both stores read a report back as the codec does: what it would refuse (a `who` past 128
  // characters, say a long RW_POD in `analyzer@<pod>`) is refused with a clear error and nothing
  // written. The Redis store used to store it (create → true, the action applied) and then never
  // return it (get → null, list without it), where the memory store returned it.
  test(`${name}: what the codec would not read back is refused and nothing is written`, async () => {
    const store = await make();
    const longWho = 'analyzer@' + 'p'.repeat(200);
    await assert.rejects(store.create(report('bad1', { history: [{ ts: NOW, who: longWho, what: 'detected' }] })), { name: 'InvalidReportError', message: /history\[0\]\.who/ });
    assert.equal(await store.get('bad1'), null);
    assert.deepEqual((await store.list()).items, []);
    const ok = report('ok1');
    assert.equal(await store.create(ok), true);
    await assert.rejects(store.transition('ok1', { to: 'confirmed', entry: { ts: NOW + 1, who: longWho, what: 'confirmed' } }), { name: 'InvalidReportError', message: /who/ });
    await assert.rejects(store.transition('ok1', { to: 'closed' as never, entry: { ts: NOW + 1, who: 'ops', what: 'x' } }), { name: 'InvalidReportError', message: /status/ });
    await assert.rejects(store.updateDetails('ok1', { score: 0.5, detectors: {}, explanation: [], summary: 's'.repeat(5_000) }), { name: 'InvalidReportError', message: /summary/ });
    assert.deepEqual(await store.get('ok1'), ok, 'nothing changed');
    assert.deepEqual((await store.list({ status: 'actioned' })).items.map((r) => r.id), ['ok1']);
    assert.deepEqual((await store.list({ status: 'confirmed' })).items, []);
    // `from: []` allows no status: a conflict in both stores (Redis read it as "any")
    const none = await store.transition('ok1', { from: [], to: 'dismissed', entry: { ts: NOW + 2, who: 'ops', what: 'dismissed' } });
    assert.ok(!none.ok && none.reason === 'conflict');
    assert.equal((await store.get('ok1'))?.status, 'actioned');
  });
}
