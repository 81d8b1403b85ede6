/**
 * Detector 1: robust z-scores (seasonal residuals for volume features) of every feature against
 * its expectation. The spread of a z combines the baseline's own spread with the sampling noise of
 * this window — Poisson for counts (on log scale ≈ 1/(1+λ)), binomial for ratios — and a floor, so
 * three failed logins out of three requests are not as surprising as 300 out of 300.
 * Direction matters: more errors is suspicious, fewer is not.
 */
import { FEATURES, FEATURE_COUNT, F, featureLabel, fromDetectorScale, MIN_GAPS_FOR_CV } from '../../models/features.js';
import type { Expectation } from '../baselines/expectation.js';

/** Minimum spread per kind on detector scale (log1p for counts and latency). */
const FLOOR: Readonly<Record<string, number>> = { count: 0.15, ratio: 0.05, latency_ms: 0.25, interarrival_cv: 0.15 };
/** Requests in the window below which the inter-arrival CV says nothing. */
const MIN_REQUESTS_FOR_CV = MIN_GAPS_FOR_CV + 7;

export interface FeatureDeviation {
  readonly index: number;
  /** Feature with window suffix (`requests_10s`). */
  readonly feature: string;
  readonly observed: number;
  readonly baseline: number;
  /** Spread in the feature's own units (approximate for log-scale features). */
  readonly spread: number;
  /** Signed towards the suspicious direction: positive = anomalous. */
  readonly z: number;
}

export interface StatisticalResult {
  readonly score: number;
  /** Largest weighted z. */
  readonly zEff: number;
  /** Deviations with z ≥ 2, largest weighted first (at most 5). */
  readonly top: readonly FeatureDeviation[];
}

export function scoreToUnit(z: number, z0: number, zScale: number): number {
  return z <= z0 ? 0 : 1 - Math.exp(-(z - z0) / zScale);
}

export function scoreStatistical(
  raw: ArrayLike<number>,
  scaled: ArrayLike<number>,
  exp: Expectation,
  sizeMs: number,
  z0: number,
  zScale: number,
): StatisticalResult {
  const n = raw[F.requests]!;
  const lambda = Math.max(0, exp.raw[F.requests]!);
  const deviations: Array<FeatureDeviation & { weighted: number }> = [];
  let zEff = 0;
  for (let i = 0; i < FEATURE_COUNT; i++) {
    const x = scaled[i]!;
    const c = exp.centre[i]!;
    if (Number.isNaN(x) || Number.isNaN(c)) continue;
    const spec = FEATURES[i]!;
    if (i === F.interarrivalCv && n < MIN_REQUESTS_FOR_CV) continue;
    let noise2: number;
    let floor: number;
    if (spec.kind === 'count') {
      noise2 = 1 / (1 + (Number.isNaN(lambda) ? 0 : lambda));
      floor = FLOOR.count!;
    } else if (spec.kind === 'ratio') {
      const p = Math.min(0.95, Math.max(0.05, c));
      noise2 = (p * (1 - p)) / Math.max(1, n);
      floor = FLOOR.ratio!;
    } else {
      noise2 = 0;
      floor = FLOOR[spec.name] ?? 0.2;
    }
    const s = exp.sigma[i]!;
    const spread = Math.sqrt((Number.isNaN(s) ? 0 : s * s) + noise2 + floor * floor);
    const z = spec.direction === 'up' ? (x - c) / spread : (c - x) / spread;
    const weighted = z * spec.weight;
    if (weighted > zEff) zEff = weighted;
    if (z >= 2) {
      const baseline = exp.raw[i]!;
      deviations.push({
        index: i,
        feature: featureLabel(i, sizeMs),
        observed: raw[i]!,
        baseline,
        spread: spec.log ? Math.max(0, fromDetectorScale(i, c + spread) - baseline) : spread,
        z,
        weighted,
      });
    }
  }
  deviations.sort((a, b) => b.weighted - a.weighted);
  const top = deviations.slice(0, 5).map(({ weighted: _w, ...d }) => d);
  return { score: scoreToUnit(zEff, z0, zScale), zEff, top };
}
