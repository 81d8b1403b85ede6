/**
 * A failing backend is not every client's anomaly: 502/504 (the backend unreachable or too slow —
 * the sidecar's own are never counted against the client, DESIGN.md), a 503 the sidecar refused
 * with (its store away under failMode closed) and answers the sidecar made for reasons of its own
 * leave the per-client 5xx and limited ratios and the latency alone, so an outage neither reports
 * nor tightens every client — while the load watcher still sees the backend failing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallEvent } from '../../../models/events.js';
import { F, FeatureContext, WindowAccumulator } from '../../../models/features.js';
import { LoadWatcher } from '../../../analyzer/load/loadWatcher.js';
import { T0, ev } from './helpers.js';
import { drive, setupAnalyzer } from './harness.js';

function vectorOf(events: readonly CallEvent[]): Float64Array {
  const acc = new WindowAccumulator(T0, 10_000, false);
  const ctx = new FeatureContext();
  for (const e of events) acc.add(e, ctx);
  return acc.vector();
}

test('gateway errors, store-down refusals and self-answered 5xx are not the client’s 5xx, limited share or latency; the upstream’s own 5xx are', () => {
  const ok = (i: number, over: Partial<CallEvent> = {}) => ev({ ts: T0 + i, latencyMs: 20, ...over });
  const x = vectorOf([
    ok(0),
    ok(1),
    ok(2, { status: 502, latencyMs: 3 }),
    ok(3, { status: 504, latencyMs: 30_000 }),
    ok(4, { status: 503, decision: 'limited', rule: 'per-key', latencyMs: 1 }),
    ok(5, { status: 503, selfAnswered: true, latencyMs: 1 }),
    ok(6, { status: 500 }),
    ok(7, { status: 503 }),
    ok(8, { status: 429, decision: 'limited', rule: 'per-key', latencyMs: 1 }),
  ]);
  assert.equal(x[F.requests], 9);
  assert.equal(x[F.ratio5xx], 2 / 9, 'only the upstream’s own 500 and 503');
  assert.equal(x[F.ratioLimited], 1 / 9, 'only the 429');
  // the latency of every call but the two gateway errors: 20 × 4 + 1 + 1 + 1 over 7
  assert.equal(x[F.latencyMs], (20 * 4 + 3) / 7);
  const down = vectorOf([ok(0, { status: 504, latencyMs: 30_000 }), ok(1, { status: 502, latencyMs: 2 })]);
  assert.equal(down[F.ratio5xx], 0);
  assert.ok(Number.isNaN(down[F.latencyMs]!), 'a window of gateway errors only has no latency sample');
});

for (const [outage, over] of [
  ['the backend refusing connections (502)', { status: 502, latencyMs: 3 }],
  ['the backend timing out (504 after 30 s)', { status: 504, latencyMs: 30_000 }],
  ['the store away with failMode closed (503, limited)', { status: 503, decision: 'limited', rule: 'per-key', latencyMs: 1 }],
] as const) {
  test(`three minutes of ${outage} open no report on any client and tighten none`, async () => {
    const s = setupAnalyzer('analyzer:\n  actions:\n    - { minScore: 0.5, action: tighten, multiplier: 0.25, ttl: 2m }\n');
    await drive(s, 600);
    const watcher = new LoadWatcher({ clock: () => s.now });
    const opened = [];
    for (let i = 0; i < 180; i++) {
      const t = s.now;
      const batch: CallEvent[] = [];
      for (let c = 0; c < 20; c++) if ((i + c) % 2 === 0) batch.push(ev({ ts: t + c * 10, client: `apiKey:${String(c).padStart(16, '0')}`, route: `/api/r${c % 4}`, ip: `10.0.0.${c}`, ...over }));
      s.analyzer.ingest(batch);
      s.now = t + 1_000;
      watcher.observe(batch.map((e) => ({ ...e, ts: s.now - 1 - e.latencyMs })));
      opened.push(...(await s.analyzer.tick(s.now)).opened);
    }
    assert.deepEqual(opened.map((r) => `${r.client}: ${r.summary}`), []);
    assert.equal((await s.plane.read()).overrides.size, 0);
    // the backend's failure is the load watcher's to see (a store-down refusal never reached it)
    const signals = watcher.signals('api', s.now);
    if (over.status === 503) assert.equal(signals.count, 0);
    else assert.equal(signals.errorRate, 1);
  });
}
