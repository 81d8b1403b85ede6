/**
 * The adaptive concurrency strategies against a synthetic upstream: W workers of S ms each, so a
 * window's RTT is S while in-flight ≤ W and S × inflight / W beyond (requests queue). Each strategy
 * must settle a little above W (busy, short queue) from a limit far too high or too low, never grow
 * while the application sends less than the limit, back off on drops, and stay within its bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AimdLimit } from '../../../sidecar/adaptive/aimdLimit.js';
import { Gradient2Limit } from '../../../sidecar/adaptive/gradient2Limit.js';
import { VegasLimit } from '../../../sidecar/adaptive/vegasLimit.js';
import { WindowedLimit } from '../../../sidecar/adaptive/windowedLimit.js';
import { createLimit } from '../../../sidecar/adaptive/createLimit.js';
import type { ConcurrencyLimit } from '../../../sidecar/adaptive/limit.js';

const W = 12;
const S = 40;

/** Drives `limit` window by window with `demand` requests wanting to be in flight; returns the limits seen. */
function drive(limit: ConcurrencyLimit, windows: number, demand: (i: number) => number, startMs = 0): number[] {
  const seen: number[] = [];
  for (let i = 0; i < windows; i++) {
    const inflight = Math.min(limit.getLimit(), demand(i));
    const rtt = S * Math.max(1, inflight / W);
    limit.onSample(rtt, inflight, false, startMs + i * 100);
    seen.push(limit.getLimit());
  }
  return seen;
}

const bounds = (initialLimit: number) => ({ minLimit: 4, maxLimit: 500, initialLimit });
const strategies: Array<[string, (initial: number) => ConcurrencyLimit]> = [
  ['gradient2', (i) => new Gradient2Limit(bounds(i))],
  ['vegas', (i) => new VegasLimit(bounds(i))],
  ['aimd', (i) => new AimdLimit(bounds(i))],
];

for (const [name, make] of strategies) {
  test(`${name} settles just above the upstream's parallelism under unbounded demand, from a limit far too high`, () => {
    const limit = make(200);
    drive(limit, 20, () => 6); // learn the no-load RTT at a light load first (the limit stays at 200)
    assert.equal(limit.getLimit(), 200);
    const seen = drive(limit, 400, () => 10_000);
    const settled = seen.slice(-100);
    assert.ok(Math.min(...settled) >= W, `${name} settled at ${Math.min(...settled)}, below the ${W} workers (the upstream would idle)`);
    assert.ok(Math.max(...settled) <= 3 * W, `${name} settled at ${Math.max(...settled)}: a queue of more than ${2 * W} at the upstream`);
  });

  test(`${name} grows from a limit too low to keep the upstream busy`, () => {
    const limit = make(4);
    drive(limit, 10, () => 3);
    const seen = drive(limit, 300, () => 10_000);
    assert.ok(seen.at(-1)! >= W, `${name} stayed at ${seen.at(-1)}`);
  });

  test(`${name} does not grow while the application sends less than half the limit`, () => {
    const limit = make(40);
    const seen = drive(limit, 200, () => 10);
    assert.ok(Math.max(...seen) <= 40, `${name} grew to ${Math.max(...seen)} with 10 requests in flight`);
  });

  test(`${name} shrinks when the upstream drops requests`, () => {
    const limit = make(100);
    drive(limit, 20, () => 6);
    const before = limit.getLimit();
    for (let i = 0; i < 10; i++) limit.onSample(S, 100, true, 5_000 + i * 100);
    assert.ok(limit.getLimit() < before, `${name}: ${before} → ${limit.getLimit()}`);
  });

  test(`${name} stays within minLimit and maxLimit`, () => {
    const limit = make(10);
    for (let i = 0; i < 500; i++) limit.onSample(S, 5, true, i * 100);
    assert.equal(limit.getLimit(), 4);
    const up = make(10);
    for (let i = 0; i < 2_000; i++) up.onSample(S, up.getLimit(), false, i * 100);
    assert.ok(up.getLimit() <= 500);
  });
}

test('gradient2 keeps its no-load reference through a sustained overload instead of drifting up with it', () => {
  const limit = new Gradient2Limit(bounds(20));
  drive(limit, 50, () => 6);
  const seen = drive(limit, 600, () => 10_000); // a minute of 100 ms windows
  const first = Math.max(...seen.slice(100, 200));
  const last = Math.max(...seen.slice(-100));
  assert.ok(last <= first + 3, `drifted from ${first} to ${last}`);
  assert.ok(limit.longRtt < 1.5 * S, `long RTT ${limit.longRtt} learned the overload`);
});

test('gradient2 accepts a permanently slower upstream as the new normal after a while', () => {
  const limit = new Gradient2Limit({ ...bounds(20), longWindow: 60 });
  drive(limit, 50, () => 6);
  for (let i = 0; i < 2_000; i++) limit.onSample(3 * S, 6, false, i * 100); // slower, but lightly loaded
  assert.ok(limit.longRtt > 2.5 * S, `long RTT ${limit.longRtt}`);
});

test('aimd treats an RTT beyond twice the no-load RTT as congestion', () => {
  const limit = new AimdLimit(bounds(50));
  for (let i = 0; i < 10; i++) limit.onSample(S, 30, false, i * 100);
  const before = limit.getLimit();
  limit.onSample(2.5 * S, 50, false, 2_000);
  assert.equal(limit.getLimit(), Math.floor(before * 0.9));
});

test('the windowed limit hands its strategy one mean RTT per window, ignoring dropped samples in the mean', () => {
  const calls: Array<[number, number, boolean]> = [];
  const inner: ConcurrencyLimit = { name: 'probe', getLimit: () => 10, onSample: (rtt, inflight, drop) => void calls.push([rtt, inflight, drop]) };
  const w = new WindowedLimit(inner, { minWindowMs: 100, minSamples: 3, maxWindowMs: 1_000, minDrops: 1 }); // one drop makes a dropped window here (default: 2, adaptiveDrops.test.ts)
  w.onSample(10, 1, false, 0);
  w.onSample(30, 5, false, 50);
  w.onSample(999, 2, true, 60);
  assert.equal(calls.length, 0, 'window younger than 100 ms');
  w.onSample(20, 3, false, 120);
  assert.deepEqual(calls, [[20, 5, true]]);
  w.onSample(50, 1, false, 200);
  w.onSample(50, 1, false, 1_250);
  assert.deepEqual(calls[1], [50, 1, false], 'a window closes at maxWindowMs whatever it holds');
});

test('createLimit builds the strategy the policy names, windowed', () => {
  for (const strategy of ['gradient2', 'vegas', 'aimd'] as const) {
    const l = createLimit({ strategy, minLimit: 2, maxLimit: 50, initialLimit: 7 });
    assert.equal(l.name, strategy);
    assert.equal(l.getLimit(), 7);
  }
});

test('bounds are checked: minLimit ≤ initialLimit ≤ maxLimit', () => {
  assert.throws(() => new Gradient2Limit({ minLimit: 10, maxLimit: 5, initialLimit: 7 }), RangeError);
});
