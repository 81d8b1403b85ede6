/**
 * The commit is held back to the oldest 10 s window not scored, so the new owner of a partition
 * (after a rebalance, a crash or a restart) reads the minute that was open only from there: the
 * windows of it the old owner scored are not read again. The old owner closes that minute as partial
 * (not scored, not learned). The new owner scored and learned it as a whole minute — half a minute's
 * requests as one minute into the client's 60 s baseline, and a minute's evidence split between two
 * owners that neither saw whole. A minute that began before the first event the partition's owner
 * read is partial there too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import type { ClientState } from '../../../analyzer/clientState.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { T0, ev, policy } from './helpers.js';

const KEY = 'apiKey:00000000000000aa';
const OTHER = 'apiKey:00000000000000bb';

function make(clock: { t: number }): Analyzer {
  return new Analyzer({ policy: policy('analyzer:\n  maxClients: 1000\n'), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => clock.t });
}

function state(a: Analyzer, key: string): ClientState {
  return (a as unknown as { clients: Map<string, ClientState> }).clients.get(key)!;
}

async function partialCount(a: Analyzer): Promise<number> {
  return (await a.metrics.windowsPartial.get()).values[0]?.value ?? 0;
}

test("the new owner does not score or learn the minute it read only from the held-back offset; the next minute it does", async () => {
  const clock = { t: T0 };
  // one request a second, minute T0 … T0 + 60 s and the next one
  const all = Array.from({ length: 130 }, (_, s) => ev({ client: KEY, ts: T0 + s * 1000 + 500 }));
  const a = make(clock);
  const readByA = all.filter((e) => e.ts < T0 + 45_000);
  for (const e of readByA) {
    a.ingest([e], 0);
    clock.t = e.ts + 10;
    await a.tick(clock.t);
  }
  const mark = a.scoredUntil(0);
  assert.ok(mark > T0 && mark < T0 + 60_000, 'part of the minute was scored by the old owner');
  await a.revoke([0]);
  assert.equal(state(a, KEY)?.b60.windows ?? 0, 0, 'the old owner did not learn the minute');

  // the new owner reads from the held-back offset: the windows ending after the mark
  const b = make(clock);
  for (const e of all.filter((x) => x.ts >= mark - 10_000 && x.ts - (x.ts % 10_000) + 10_000 > mark)) {
    b.ingest([e], 0);
    clock.t = e.ts + 10;
    await b.tick(clock.t);
  }
  const st = state(b, KEY);
  assert.equal(st.b60.windows, 1, 'only the minute read whole is learned (not the one begun on the old owner)');
  assert.equal(st.minutes, 1);
  assert.ok((await partialCount(b)) >= 1, 'the minute begun before the first event read is counted as partial');
});

test('a client that starts mid-minute on a partition read from before has its minute scored as usual', async () => {
  const clock = { t: T0 };
  const a = make(clock);
  const events = [...Array.from({ length: 70 }, (_, s) => ev({ client: OTHER, ts: T0 + s * 1000 + 500 })), ...Array.from({ length: 30 }, (_, s) => ev({ client: KEY, ts: T0 + 35_000 + s * 1000 }))].sort((x, y) => x.ts - y.ts);
  for (const e of events) {
    a.ingest([e], 0);
    clock.t = e.ts + 10;
    await a.tick(clock.t);
  }
  assert.equal(state(a, KEY).b60.windows, 1, "the newcomer's first minute is learned");
  assert.equal(await partialCount(a), 0);
});
