/**
 * A client evicted from the LRU with learning not yet written waits for the snapshot writer (the
 * hand-off, written within a second). If it comes back before that write, it is taken back from
 * the hand-off as it was — not restored from the older snapshot in the state store, which would
 * lose what it learned since (and later overwrite the newer snapshot with the older state).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { StateSnapshotter } from '../../../analyzer/state/snapshotter.js';
import { MemoryStateStore } from '../../../analyzer/state/stateStore.js';
import { T0, ev, policy } from './helpers.js';

const key = (i: number): string => `apiKey:${String(i).padStart(16, '0')}`;

const settle = (): Promise<unknown> => new Promise((r) => setTimeout(r, 10));
const analyzerOn = (store: MemoryStateStore, now: { t: number }): Analyzer =>
  new Analyzer({ policy: policy('analyzer:\n  maxClients: 2\n'), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => now.t, state: store });

/**
 * Two clients for two minutes, client 1's first minute written; then a third client evicts client 1
 * (the least recently used) with its second minute not written yet. Its windows learned are returned.
 */
async function evictedWithUnwrittenLearning(store: MemoryStateStore) {
  const now = { t: T0 };
  const a = analyzerOn(store, now);
  const snapshotter = new StateSnapshotter(a, store, { clock: () => now.t, minWindows: 1 });
  const run = async (from: number, seconds: number): Promise<void> => {
    for (let s = from; s < from + seconds; s++) {
      a.ingest([ev({ client: key(1), ts: T0 + s * 1_000 }), ev({ client: key(2), ts: T0 + s * 1_000 + 1 })]);
      now.t = T0 + s * 1_000 + 1_000;
      await a.tick(now.t);
    }
  };
  await run(0, 60);
  await snapshotter.flush(); // the periodic write: client 1 as it is at one minute
  const older = a.client(key(1))!.windows['10s'];
  await run(60, 60);
  const learned = a.client(key(1))!.windows['10s'];
  assert.ok(learned > older, `${learned} windows now, ${older} in the store`);
  a.ingest([ev({ client: key(3), ts: now.t })]);
  await settle(); // its own (absent) snapshot looked up first
  assert.equal(a.client(key(1)), null, 'evicted');
  return { a, snapshotter, now, learned };
}

/** Client 1 comes back; it must keep what it learned without a lookup of its older snapshot. */
async function comesBack(a: Analyzer, store: MemoryStateStore, now: { t: number }, learned: number): Promise<void> {
  const lookups = store.lookups.length;
  a.ingest([ev({ client: key(1), ts: now.t + 10 })]);
  await settle();
  await a.tick(now.t + 100);
  assert.equal(a.client(key(1))?.windows['10s'], learned, 'it kept everything it had learned');
  assert.ok(!store.lookups.slice(lookups).some((l) => l.includes(key(1))), 'no lookup of the older snapshot');
}

/** A fresh instance restores client 1 as it was learned. */
async function restoredWindows(store: MemoryStateStore, now: { t: number }): Promise<number | undefined> {
  const b = analyzerOn(store, now);
  b.ingest([ev({ client: key(1), ts: now.t + 20 })]);
  await settle();
  await b.tick(now.t + 200);
  return b.client(key(1))?.windows['10s'];
}

test('an evicted client that returns before its hand-off is written keeps its unwritten learning', async () => {
  const store = new MemoryStateStore();
  const { a, snapshotter, now, learned } = await evictedWithUnwrittenLearning(store);
  // it comes back within the second, before the snapshot writer's next run
  await comesBack(a, store, now, learned);
  // and the snapshot written next is the newer state
  await snapshotter.flush();
  assert.equal(await restoredWindows(store, now), learned);
});

/** A state store whose client writes wait until the test lets them land. */
class SlowWrites extends MemoryStateStore {
  held: Array<() => void> = [];
  holding = false;
  override async putClients(entries: Parameters<MemoryStateStore['putClients']>[0]): Promise<void> {
    if (this.holding) await new Promise<void>((r) => this.held.push(r));
    return super.putClients(entries);
  }
}

test('an evicted client that returns while its hand-off write is in flight keeps its unwritten learning', async () => {
  const store = new SlowWrites();
  const { a, snapshotter, now, learned } = await evictedWithUnwrittenLearning(store);
  // the writer takes the hand-off; its write does not land yet
  store.holding = true;
  const writing = snapshotter.flush();
  await settle();
  assert.ok(store.held.length > 0, 'a client write is in flight');
  await comesBack(a, store, now, learned);
  store.holding = false;
  for (const r of store.held.splice(0)) r();
  await writing;
  // written again with the next flush, as it is now
  await snapshotter.flush();
  assert.equal(await restoredWindows(store, now), learned);
});
