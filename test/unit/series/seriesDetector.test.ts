import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeriesDetector, type SeriesProfile } from '../../../analyzer/detectors/series/index.js';
import { MINUTE, noisySeries, rng, T0 } from './synthetic.js';

const PROFILES: SeriesProfile[] = ['light', 'full'];

function scoreAll(profile: SeriesProfile, ts: number[], xs: number[]): number[] {
  const d = createSeriesDetector({ profile });
  return xs.map((x, i) => d.update(x, ts[i]!));
}

function maxOf(a: number[], from: number, to: number): number {
  let m = -Infinity;
  for (let i = from; i < to; i++) m = Math.max(m, a[i]!);
  return m;
}

for (const profile of PROFILES) {
  test(`${profile}: the scores of a prefix do not change when more rows are appended (causal)`, () => {
    const { ts, xs } = noisySeries(1, 3000, 100, 5, 20);
    xs[2500] = 200;
    const full = scoreAll(profile, ts, xs);
    const prefix = scoreAll(profile, ts.slice(0, 1800), xs.slice(0, 1800));
    assert.deepEqual(prefix, full.slice(0, 1800));
  });

  test(`${profile}: the same input gives the same scores (deterministic)`, () => {
    const { ts, xs } = noisySeries(2, 2000);
    assert.deepEqual(scoreAll(profile, ts, xs), scoreAll(profile, ts, xs));
  });

  test(`${profile}: every score is a finite number in [0, 1]`, () => {
    const { ts, xs } = noisySeries(3, 3000, 0, 1);
    for (let i = 0; i < xs.length; i += 97) xs[i] = xs[i]! * 1e6; // wild values
    for (let i = 1000; i < 1200; i++) xs[i] = 0; // flat stretch
    for (const s of scoreAll(profile, ts, xs)) assert.ok(Number.isFinite(s) && s >= 0 && s <= 1, String(s));
  });

  test(`${profile}: a level shift scores above everything in the steady state within a few points`, () => {
    const { ts, xs } = noisySeries(4, 2000, 100, 5);
    for (let i = 1500; i < 2000; i++) xs[i] = xs[i]! + 40;
    const scores = scoreAll(profile, ts, xs);
    const steady = maxOf(scores, 300, 1500);
    const onset = maxOf(scores, 1500, 1505);
    assert.ok(onset > steady, `onset ${onset} must exceed steady ${steady}`);
  });

  test(`${profile}: a single spike scores above everything in the steady state`, () => {
    const { ts, xs } = noisySeries(5, 2000, 100, 5);
    xs[1700] = 160;
    const scores = scoreAll(profile, ts, xs);
    assert.ok(scores[1700]! > maxOf(scores, 300, 1700), `spike ${scores[1700]} vs steady ${maxOf(scores, 300, 1700)}`);
    assert.ok(scores[1700]! > 0.5);
  });

  test(`${profile}: an alarm is not repeated on the rows right after it (refractory)`, () => {
    const { ts, xs } = noisySeries(6, 2000, 100, 5);
    for (let i = 1500; i < 2000; i++) xs[i] = xs[i]! + 40;
    const scores = scoreAll(profile, ts, xs);
    const first = scores.findIndex((s, i) => i >= 1500 && s > 0.5);
    assert.ok(first >= 1500 && first < 1505);
    assert.ok(maxOf(scores, first + 1, first + 50) < scores[first]!);
  });

  test(`${profile}: NaN, Infinity and missing values score 0 and do not change the state`, () => {
    const { ts, xs } = noisySeries(7, 1500, 100, 5);
    const clean = createSeriesDetector({ profile });
    const dirty = createSeriesDetector({ profile });
    for (let i = 0; i < xs.length; i++) {
      if (i % 50 === 0) {
        for (const bad of [NaN, Infinity, -Infinity, undefined as unknown as number]) assert.equal(dirty.update(bad, ts[i]!), 0);
      }
      assert.equal(dirty.update(xs[i]!, ts[i]!), clean.update(xs[i]!, ts[i]!));
    }
    assert.deepEqual(dirty.serialize(), clean.serialize());
  });

  test(`${profile}: a restored state continues exactly like the original`, () => {
    const { ts, xs } = noisySeries(8, 3000, 100, 5, 30);
    const a = createSeriesDetector({ profile });
    for (let i = 0; i < 2000; i++) a.update(xs[i]!, ts[i]!);
    const b = createSeriesDetector({ profile });
    b.restore(a.serialize());
    for (let i = 2000; i < 3000; i++) assert.equal(b.update(xs[i]!, ts[i]!), a.update(xs[i]!, ts[i]!));
  });

  test(`${profile}: a timestamp that cannot be read only skips the daily model`, () => {
    const d = createSeriesDetector({ profile });
    for (let i = 0; i < 100; i++) assert.ok(d.update(10 + (i % 3), NaN) >= 0);
  });
}

test('restoring a state of the other profile is refused', () => {
  const light = createSeriesDetector({ profile: 'light' });
  const full = createSeriesDetector({ profile: 'full' });
  assert.throws(() => light.restore(full.serialize()), /another format or profile/);
});

test('the light profile keeps at most 1 KB per series and the full profile at most 10 KB', () => {
  assert.ok(createSeriesDetector({ profile: 'light' }).stateBytes <= 1024);
  assert.ok(createSeriesDetector({ profile: 'full' }).stateBytes <= 10 * 1024);
  assert.equal(createSeriesDetector().stateBytes, createSeriesDetector({ profile: 'light' }).stateBytes);
});

test('the full profile learns a non-daily period and then flags a break in it', () => {
  // a burst every 100 points (not a daily rhythm), then an extra burst between two regular ones
  const n = 3000;
  const ts = Array.from({ length: n }, (_, i) => Date.UTC(2024, 0, 1) + i * 300_000);
  const xs = Array.from({ length: n }, (_, i) => (i % 100 === 0 || i % 100 === 6 ? 20 : 0));
  xs[2550] = 20;
  const scores = scoreAll('full', ts, xs);
  assert.ok(scores[2550]! > maxOf(scores, 1000, 2550), `extra burst ${scores[2550]} vs regular ${maxOf(scores, 1000, 2550)}`);
});

test('with minScale 1 a burst in a sparse count series stands out, idle-to-one-request does not', () => {
  const next = rng(9);
  const poisson = (l: number): number => {
    let k = 0;
    let p = Math.exp(-l);
    let c = p;
    const u = next();
    while (u > c) {
      k++;
      p *= l / k;
      c += p;
    }
    return k;
  };
  const d = createSeriesDetector({ profile: 'light', minScale: 1 });
  let steady = 0;
  for (let i = 0; i < 5000; i++) {
    const s = d.update(poisson(0.05), T0 + i * MINUTE);
    if (i >= 500) steady = Math.max(steady, s);
  }
  const burst = d.update(30, T0 + 5000 * MINUTE);
  assert.ok(steady < 0.7, `steady ${steady}`);
  assert.ok(burst > 0.8 && burst > steady, `burst ${burst} vs steady ${steady}`);
});

test('explain() tells what the last value was compared with, and by which model', () => {
  const d = createSeriesDetector({ profile: 'light' });
  assert.equal(d.explain(), undefined);
  const { ts, xs } = noisySeries(10, 1000, 100, 5);
  for (let i = 0; i < xs.length; i++) d.update(xs[i]!, ts[i]!);
  d.update(180, ts[999]! + MINUTE);
  const e = d.explain()!;
  assert.equal(e.observed, 180);
  assert.ok(Math.abs(e.expected - 100) < 5, `expected ${e.expected}`);
  assert.ok(e.spread > 1 && e.spread < 10, `spread ${e.spread}`);
  assert.ok(Math.abs(e.z - (180 - e.expected) / e.spread) < 1e-9);
  assert.ok(['level', 'daily'].includes(e.model));
});

test('the full profile explains a periodic series with the lag model and its period', () => {
  const n = 3000;
  const ts = Array.from({ length: n }, (_, i) => T0 + i * 300_000);
  const xs = Array.from({ length: n }, (_, i) => (i % 100 === 0 || i % 100 === 6 ? 20 : 0));
  const d = createSeriesDetector({ profile: 'full' });
  for (let i = 0; i < n; i++) d.update(xs[i]!, ts[i]!);
  const e = d.explain()!;
  assert.equal(e.model, 'lag');
  assert.equal(e.period, 100);
});
