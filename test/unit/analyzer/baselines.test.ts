import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, medianAbsoluteDeviation } from 'simple-statistics';
import { F, FEATURE_COUNT } from '../../../models/features.js';
import { EwmaVector } from '../../../analyzer/baselines/ewma.js';
import { RobustRing, MAD_TO_SIGMA } from '../../../analyzer/baselines/robustRing.js';
import { HourOfWeekProfile, hourOfWeek, bucketLabel } from '../../../analyzer/baselines/seasonal.js';
import { WindowBaseline } from '../../../analyzer/baselines/windowBaseline.js';
import { PopulationBaselines } from '../../../analyzer/baselines/population.js';
import { expectationFor } from '../../../analyzer/baselines/expectation.js';
import { mulberry32, gaussian } from '../../../models/ml/prng.js';

function vec(requests: number, extra: Partial<Record<number, number>> = {}): Float64Array {
  const v = new Float64Array(FEATURE_COUNT);
  v[F.requests] = Math.log1p(requests);
  for (const [i, x] of Object.entries(extra)) v[Number(i)] = x!;
  return v;
}

test('the EWMA converges to the mean and variance of a stationary series and skips NaN', () => {
  const rng = mulberry32(1);
  const e = new EwmaVector(2);
  for (let i = 0; i < 5_000; i++) e.update([10 + 2 * gaussian(rng), NaN], 0.01);
  assert.ok(Math.abs(e.mean[0]! - 10) < 0.3, `mean ${e.mean[0]}`);
  assert.ok(Math.abs(e.std(0) - 2) < 0.3, `std ${e.std(0)}`);
  assert.equal(e.count[1], 0);
});

test('the robust ring gives the median and MAD of simple-statistics and ignores an outlier', () => {
  const ring = new RobustRing(1, 9, 1);
  const values = [3, 4, 5, 4, 3, 5, 4, 1000, 4];
  for (const v of values) ring.push([v]);
  assert.equal(ring.centre[0], median(values));
  assert.ok(Math.abs(ring.sigma[0]! - MAD_TO_SIGMA * medianAbsoluteDeviation(values)) < 1e-6);
  assert.ok(ring.centre[0]! < 5, 'one outlier does not move the centre');
  assert.equal(ring.value(0, 0), 4);
});

test('hour-of-week buckets start on Monday 00:00 UTC', () => {
  assert.equal(hourOfWeek(Date.UTC(2025, 0, 6, 0, 30)), 0); // a Monday
  assert.equal(hourOfWeek(Date.UTC(2025, 0, 7, 9, 0)), 24 + 9);
  assert.equal(bucketLabel(24 + 9), 'Tue 09:00 UTC');
});

test('a client with a weekly peak expects it: after two weeks Tuesday 09:00 is normal at the peak rate, 03:00 is not', () => {
  const profile = new HourOfWeekProfile(0.05, 20);
  const start = Date.UTC(2025, 0, 6);
  for (let t = start; t < start + 14 * 86_400_000; t += 60_000) {
    const hour = new Date(t).getUTCHours();
    profile.update(t + 60_000, Math.log1p(hour >= 9 && hour < 17 ? 300 : 20));
  }
  const peak = profile.expected(Date.UTC(2025, 0, 21, 9, 30))!;
  const night = profile.expected(Date.UTC(2025, 0, 21, 3, 30))!;
  assert.ok(Math.abs(Math.expm1(peak.logRate) - 300) < 5, `peak ${Math.expm1(peak.logRate)}`);
  assert.ok(Math.abs(Math.expm1(night.logRate) - 20) < 1);
  // the seasonal expectation lifts the volume baseline at the peak hour, not at night
  const b = new WindowBaseline(30, 0.05);
  for (let i = 0; i < 30; i++) b.learn(vec(20));
  const atPeak = expectationFor(b, null, profile, 60_000, Date.UTC(2025, 0, 21, 9, 31), 10);
  const atNight = expectationFor(b, null, profile, 60_000, Date.UTC(2025, 0, 21, 3, 31), 10);
  assert.ok(atPeak.raw[F.requests]! > 250, `peak expectation ${atPeak.raw[F.requests]}`);
  assert.ok(atPeak.seasonal !== null);
  assert.ok(Math.abs(atNight.raw[F.requests]! - 20) < 1);
  assert.equal(atNight.seasonal, null);
});

test('a young seasonal bucket is not used', () => {
  const profile = new HourOfWeekProfile(0.05, 20);
  for (let i = 0; i < 19; i++) profile.update(Date.UTC(2025, 0, 6, 9, i + 1), Math.log1p(100));
  assert.equal(profile.expected(Date.UTC(2025, 0, 6, 9, 30)), null);
});

test('a new client is compared with its tier population, then with its own history as it grows', () => {
  const pop = new PopulationBaselines();
  for (let i = 0; i < 600; i++) pop.learn('pro', 10_000, vec(i % 10 === 0 ? 200 : 10));
  const ring = pop.ring('pro', 10_000)!;
  const fresh = new WindowBaseline(20, 0.02);
  const e0 = expectationFor(fresh, ring, null, 10_000, 0, 30);
  assert.equal(e0.source, 'population');
  assert.ok(Math.abs(e0.raw[F.requests]! - 10) < 0.5);
  // a rule compares a young client with what busy peers reach (the 99th percentile)
  assert.ok(e0.ceiling[F.requests]! > 150, `ceiling ${e0.ceiling[F.requests]}`);
  for (let i = 0; i < 15; i++) fresh.learn(vec(50));
  const half = expectationFor(fresh, ring, null, 10_000, 0, 30);
  assert.equal(half.source, 'blend');
  assert.ok(half.raw[F.requests]! > 10 && half.raw[F.requests]! < 50);
  for (let i = 0; i < 15; i++) fresh.learn(vec(50));
  const own = expectationFor(fresh, ring, null, 10_000, 0, 30);
  assert.equal(own.source, 'client');
  assert.ok(Math.abs(own.raw[F.requests]! - 50) < 0.5);
});

test('a population with too few windows is not used at all', () => {
  const pop = new PopulationBaselines();
  for (let i = 0; i < 10; i++) pop.learn('free', 10_000, vec(10));
  const e = expectationFor(new WindowBaseline(20, 0.02), pop.ring('free', 10_000), null, 10_000, 0, 30);
  assert.equal(e.source, 'none');
  assert.ok(Number.isNaN(e.raw[F.requests]!));
});

test('an EWMA skips infinite values and steps that would overflow: its mean and variance stay finite', () => {
  const e = new EwmaVector(2);
  for (let i = 0; i < 10; i++) e.update([10 + (i % 3), 5], 0.1);
  const mean = e.mean[0]!;
  const variance = e.variance[0]!;
  e.update([Infinity, -Infinity], 0.1);
  e.update([1.7e308, 5], 0.1);
  e.update([-1.7e308, 5], 0.1);
  assert.equal(e.mean[0], mean);
  assert.equal(e.variance[0], variance);
  assert.equal(e.count[1], 12, 'the finite feature of the same vectors is learned');
  e.update([11, 5], 0.1);
  assert.ok(Number.isFinite(e.mean[0]!) && Number.isFinite(e.variance[0]!));
});

test('a robust ring keeps an infinite value (or one past float32) as missing: its centre and spread stay finite', () => {
  const ring = new RobustRing(1, 16, 1);
  for (let i = 0; i < 10; i++) ring.push([10 + (i % 3)]);
  ring.push([Infinity]);
  ring.push([1e39]);
  ring.recompute();
  assert.equal(ring.support[0], 10);
  assert.ok(Number.isFinite(ring.centre[0]!) && Number.isFinite(ring.sigma[0]!), `${ring.centre[0]} ${ring.sigma[0]}`);
});
