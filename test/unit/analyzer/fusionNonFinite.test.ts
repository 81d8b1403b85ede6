/**
 * Fusion and decisions with numbers that are not finite: the fused score is always finite and in
 * [0, 1], the explanation carries only finite numbers, and a score that is not a number never opens
 * an episode (in particular never matches the first, strongest action rule).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FEATURE_COUNT } from '../../../models/features.js';
import type { Expectation } from '../../../analyzer/baselines/expectation.js';
import { fuse } from '../../../analyzer/fusion.js';
import { decide, INITIAL_DECISION_STATE } from '../../../analyzer/decisions/decide.js';
import { DEFAULT_DETECTION } from '../../../analyzer/options.js';
import { policy } from './helpers.js';

const exp: Expectation = { centre: new Float64Array(FEATURE_COUNT), sigma: new Float64Array(FEATURE_COUNT).fill(0.1), raw: new Float64Array(FEATURE_COUNT), ceiling: new Float64Array(FEATURE_COUNT), source: 'client', clientWeight: 1, seasonal: null };

test('NaN and infinite detector scores fuse to a finite score in [0, 1] with finite explanation numbers', () => {
  const r = fuse(
    {
      sizeMs: 10_000,
      tier: 'free',
      statistical: { score: NaN, zEff: NaN, top: [] },
      rules: [{ rule: 'volumetric', score: Infinity, feature: 'requests_10s', observed: NaN, baseline: NaN, margin: NaN, text: 'x' }],
      series: NaN,
      autoencoder: { error: NaN, score: -Infinity, top: [] },
      expectation: exp,
    },
    DEFAULT_DETECTION.weights,
  );
  assert.ok(Number.isFinite(r.score) && r.score >= 0 && r.score <= 1, `score ${r.score}`);
  for (const v of Object.values(r.detectors)) assert.ok(Number.isFinite(v) && v >= 0 && v <= 1);
  for (const e of r.explanation) for (const k of ['observed', 'baseline', 'spread', 'z'] as const) assert.ok(Number.isFinite(e[k]), `${e.feature}.${k} = ${e[k]}`);
});

test('a weight that is missing or not finite does not make the fused score NaN', () => {
  const weights = { ...DEFAULT_DETECTION.weights, statistical: undefined as unknown as number, series: NaN };
  const r = fuse({ sizeMs: 10_000, tier: 'free', statistical: { score: 0.5, zEff: 6, top: [] }, rules: [], series: 0.5, autoencoder: null, expectation: exp }, weights);
  assert.ok(Number.isFinite(r.score) && r.score >= 0 && r.score <= 1, `score ${r.score}`);
});

test('a score that is not a number opens no episode and acts on nothing', () => {
  const cfg = { policy: policy('analyzer:\n  actions:\n    - { minScore: 0.9, action: block, ttl: 10m }\n').analyzer, openThreshold: 0.5, closeThreshold: 0.3, quietMs: 120_000, firedThreshold: 0.5 };
  const r = decide(INITIAL_DECISION_STATE, { now: 1_000, score: NaN, detectors: {}, sizeMs: 10_000, allowlisted: false, reportId: 'r' }, cfg);
  assert.deepEqual(r.outcome, { kind: 'none' });
  assert.equal(r.state.episode, null);
});
