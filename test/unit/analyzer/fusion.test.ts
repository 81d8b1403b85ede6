import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, FEATURE_COUNT } from '../../../models/features.js';
import type { Expectation } from '../../../analyzer/baselines/expectation.js';
import { fuse } from '../../../analyzer/fusion.js';
import { scoreStatistical, scoreToUnit } from '../../../analyzer/detectors/statistical.js';
import { DEFAULT_DETECTION } from '../../../analyzer/options.js';
import type { RuleHit } from '../../../analyzer/detectors/rules.js';

const W = DEFAULT_DETECTION.weights;

function expectation(normal: number[], source: Expectation['source'] = 'client'): Expectation {
  const raw = Float64Array.from(normal);
  const centre = raw.map((x, i) => (i === F.requests || i === F.cost || i === F.distinctRoutes || i === F.distinctIps || i === F.bytes || i === F.latencyMs || i === F.uaChanges ? Math.log1p(x) : x));
  return { centre, sigma: new Float64Array(FEATURE_COUNT).fill(0.1), raw, ceiling: raw, source, clientWeight: 1, seasonal: null };
}

const NORMAL = [20, 20, 0.02, 0.01, 0, 0, 5, 1, 20_000, 40, 0.8, 0, 0.1, 0];

function stat(observed: number[]) {
  const raw = Float64Array.from(observed);
  const scaled = raw.map((x, i) => (i === F.requests || i === F.cost || i === F.distinctRoutes || i === F.distinctIps || i === F.bytes || i === F.latencyMs || i === F.uaChanges ? Math.log1p(x) : x));
  return scoreStatistical(raw, scaled, expectation(NORMAL), 10_000, DEFAULT_DETECTION.z0, DEFAULT_DETECTION.zScale);
}

const HIT: RuleHit = { rule: 'credential_stuffing', score: 0.9, feature: 'ratio_401_403_10s', observed: 0.95, baseline: 0.01, margin: 2, text: 'credential stuffing: 95 of 100 requests answered 401/403 in 10s (share 0.95 vs 0.01 normal)' };

test('a window like the baseline scores 0 on the statistical detector', () => {
  const r = stat(NORMAL);
  assert.equal(r.score, 0);
  assert.deepEqual(r.top, []);
});

test('the statistical detector ranks the features furthest from their baseline and only in their suspicious direction', () => {
  const r = stat([20, 20, 0.02, 0.9, 0, 0, 5, 1, 20_000, 40, 0.8, 0, 0.1, 0]);
  assert.ok(r.score > 0.5, `score ${r.score}`);
  assert.equal(r.top[0]!.feature, 'ratio_401_403_10s');
  assert.ok(r.top[0]!.z > 5);
  // fewer errors than usual is not an anomaly
  assert.equal(stat([20, 20, 0, 0, 0, 0, 5, 1, 20_000, 40, 0.8, 0, 0.1, 0]).score, 0);
});

test('the z of a ratio accounts for the few requests behind it', () => {
  const few = stat([2, 2, 0.02, 1, 0, 0, 2, 1, 2_000, 40, NaN, 0, 0.1, 0]);
  const many = stat([200, 200, 0.02, 1, 0, 0, 5, 1, 200_000, 40, 0.8, 0, 0.1, 0]);
  const zOf = (r: ReturnType<typeof stat>) => r.top.find((d) => d.feature === 'ratio_401_403_10s')?.z ?? 0;
  assert.ok(zOf(many) > zOf(few) + 3, `${zOf(many)} vs ${zOf(few)}`);
});

test('z maps to a score of 0 up to z0 and towards 1 beyond', () => {
  assert.equal(scoreToUnit(4, 4, 4), 0);
  assert.ok(Math.abs(scoreToUnit(8, 4, 4) - (1 - Math.exp(-1))) < 1e-12);
});

test('fusion is a weighted noisy-OR: one detector alone is capped by its weight, agreement accumulates', () => {
  const quiet = stat(NORMAL);
  const exp = expectation(NORMAL);
  const aeOnly = fuse({ sizeMs: 10_000, tier: 'free', statistical: quiet, rules: [], series: null, autoencoder: { error: 99, score: 1, top: [] }, expectation: exp }, W);
  assert.equal(aeOnly.score, W.autoencoder);
  assert.ok(aeOnly.score < DEFAULT_DETECTION.openThreshold, 'the learned model alone never opens a report');
  const both = fuse({ sizeMs: 10_000, tier: 'free', statistical: quiet, rules: [], series: 1, autoencoder: { error: 99, score: 1, top: [] }, expectation: exp }, W);
  assert.ok(Math.abs(both.score - (1 - (1 - W.autoencoder) * (1 - W.series))) < 1e-4);
  const rule = fuse({ sizeMs: 10_000, tier: 'free', statistical: quiet, rules: [HIT], series: 0, autoencoder: null, expectation: exp }, W);
  assert.equal(rule.score, 0.9);
  assert.equal(rule.dominant, 'credential_stuffing');
  assert.equal(rule.detectors.credential_stuffing, 0.9);
});

test('the explanation lists the rule first, then deviating features with observed against baseline', () => {
  const s = stat([300, 300, 0.9, 0.9, 0, 0, 5, 1, 20_000, 40, 0.8, 0, 0.1, 0]);
  const r = fuse({ sizeMs: 10_000, tier: 'free', statistical: s, rules: [HIT], series: null, autoencoder: null, expectation: expectation(NORMAL) }, W);
  assert.equal(r.explanation[0]!.detector, 'credential_stuffing');
  assert.equal(r.explanation[0]!.feature, 'ratio_401_403_10s');
  const requests = r.explanation.find((e) => e.feature === 'requests_10s')!;
  assert.equal(requests.observed, 300);
  assert.ok(Math.abs(requests.baseline - 20) < 1e-6);
  assert.match(requests.text!, /requests_10s 300 vs 20 normal, z \d/);
  assert.match(r.summary, /^credential stuffing: .* \(\+\d+ more\)$/);
  assert.ok(r.explanation.filter((e) => e.feature === 'ratio_401_403_10s').length === 1, 'a feature is explained once');
});

test('an explanation against peers says so', () => {
  const exp = { ...expectation(NORMAL), source: 'population' as const };
  const raw = Float64Array.from([400, 400, 0.02, 0.01, 0, 0, 5, 1, 20_000, 40, 0.8, 0, 0.1, 0]);
  const s = scoreStatistical(raw, raw.map((x, i) => (i === 0 || i === 1 || i === 6 || i === 7 || i === 8 || i === 9 ? Math.log1p(x) : x)), exp, 10_000, 4, 4);
  const r = fuse({ sizeMs: 10_000, tier: 'pro', statistical: s, rules: [], series: null, autoencoder: null, expectation: exp }, W);
  assert.match(r.explanation[0]!.text!, /tier pro peers/);
});
