/**
 * The LRU over clients (`analyzer.maxClients`) bounds memory: a client it evicts is still
 * referenced by its partition's window buckets until its open window's end passes, so what it held
 * must be let go at the eviction — else a flood of new client keys (random API keys) keeps ≈ 5 KB
 * each beyond the bound for a window's lateness. An evicted client with unwritten learning keeps it
 * until the snapshot writer has written it, and its next visit restores it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { StateSnapshotter } from '../../../analyzer/state/snapshotter.js';
import { MemoryStateStore } from '../../../analyzer/state/stateStore.js';
import { T0, ev, policy } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const key = (i: number): string => `apiKey:${String(i).padStart(16, '0')}`;

test('clients evicted from the LRU do not hold their state until their window closes', () => {
  const now = { t: T0 };
  const a = new Analyzer({ policy: policy('analyzer:\n  maxClients: 500\n'), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => now.t });
  const N = 20_000;
  gc();
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < N; i += 1_000) {
    a.ingest(Array.from({ length: 1_000 }, (_, k) => ev({ client: key(i + k), ts: T0 + 500 + ((i + k) % 9_000), ip: `10.${((i + k) >> 8) & 255}.${(i + k) & 255}.1` })));
  }
  gc();
  gc();
  const after = process.memoryUsage();
  assert.equal(a.clientCount, 500);
  const perClient = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / N;
  // an evicted client keeps its shell (key, feature context with its route memory) until its window closes: ≈ 1.2 KB
  assert.ok(perClient < 2_000, `${Math.round(perClient)} B held per client seen, with ${N - 500} of them evicted`);
});

test('a client evicted with unwritten learning is written by the snapshot writer and restored on its next visit', async () => {
  const store = new MemoryStateStore();
  const now = { t: T0 };
  const make = (): Analyzer => new Analyzer({ policy: policy('analyzer:\n  maxClients: 2\n'), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => now.t, state: store });
  const a = make();
  for (let s = 0; s < 120; s++) {
    a.ingest([ev({ client: key(1), ts: T0 + s * 1_000 }), ev({ client: key(2), ts: T0 + s * 1_000 + 1 })]);
    now.t = T0 + s * 1_000 + 1_000;
    await a.tick(now.t);
  }
  const windows = a.client(key(1))!.windows['10s'];
  assert.ok(windows > 5);
  // a third client evicts the least recently used one (client 1)
  a.ingest([ev({ client: key(3), ts: now.t })]);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(a.client(key(1)), null, 'evicted');
  const written = await new StateSnapshotter(a, store, { clock: () => now.t, minWindows: 1 }).flushUrgent();
  assert.ok(written.clients >= 1 && store.clients.has(key(1)), 'its learning was written after the eviction');
  const b = make();
  b.ingest([ev({ client: key(1), ts: now.t + 10 })]);
  await new Promise((r) => setTimeout(r, 10));
  await b.tick(now.t + 100);
  assert.equal(b.client(key(1))!.windows['10s'], windows, 'restored with everything it had learned');
});
