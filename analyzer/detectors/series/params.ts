/**
 * The one configuration of the series detector. Every number here was chosen once for all
 * series (NAB dev subset, checked leave-one-category-out; see bench/nab/README.md) — there is
 * no per-series tuning. Profiles differ only in sizes, never in behaviour constants.
 */
import type { SeriesProfile } from './types.js';

export interface SeriesParams {
  /** Updates before any non-zero score (location/scale need a few points). */
  readonly warmup: number;
  /** EWMA weight of the winsorized location update (≈ 1/memory in points). */
  readonly levelAlpha: number;
  /** EWMA weight of the scale (mean absolute deviation) updates. */
  readonly scaleAlpha: number;
  /** Residuals are clipped at clipK scales before they update location/scale (outlier resistance). */
  readonly clipK: number;
  /** The robust scale never drops below this fraction of the un-clipped one (spiky, mostly-flat series). */
  readonly scaleFloorFrac: number;
  /** Absolute scale floor in the series' units (its resolution; 0 = none). See SeriesDetectorOptions.minScale. */
  readonly minScale: number;
  /** Time-of-day buckets of the daily seasonal profile (0 disables it). */
  readonly dayBuckets: number;
  /** EWMA weight of a bucket update (each bucket is visited once per day per sample slot). */
  readonly bucketAlpha: number;
  /** Seasonal residuals needed before the seasonal model may be chosen. */
  readonly seasonalMinSamples: number;
  /** Ring-buffer length for autocorrelation period detection (0 disables the lag model). */
  readonly historyLength: number;
  /** Re-run period detection every this many updates. */
  readonly periodEvery: number;
  /** Autocorrelation peak needed to accept a period. */
  readonly periodMinAcf: number;
  /** Lag-model residuals needed before it may be chosen. */
  readonly lagMinSamples: number;
  /** EWMA weight of the short-horizon mean of z (sustained shifts). */
  readonly shortAlpha: number;
  /** z is clipped here before entering the short mean, so one spike does not look like a shift. */
  readonly shortClip: number;
  /** |z| is capped here (a series that was constant so far makes any change "infinite"). */
  readonly zMax: number;
  /** Quantile above which the tail (peaks-over-threshold) model fits exceedances. */
  readonly tailQuantile: number;
  /** Long-run step (in mean-excess units) of the tail threshold's stochastic quantile tracking. */
  readonly tailStep: number;
  /** Initial step, decaying as 1/n, so the threshold converges quickly after warm-up. */
  readonly tailStepInit: number;
  /** EWMA weight of the mean excess over the threshold. */
  readonly tailAlpha: number;
  /** The mean excess never drops below this fraction of the typical raw score. */
  readonly tailFloorFrac: number;
  /** Surprise (−log10 tail probability) is capped here. */
  readonly surpriseMax: number;
  /** Half-life (updates) of the memory of the last alarm's surprise (refractory period). */
  readonly refractoryHalfLife: number;
  /** Surprise that maps to score 0.5: score = s / (s + scoreHalf). */
  readonly scoreHalf: number;
}

const BASE = {
  warmup: 30,
  levelAlpha: 0.01,
  scaleAlpha: 0.003,
  clipK: 2.5,
  scaleFloorFrac: 0.05,
  minScale: 0,
  bucketAlpha: 0.3,
  seasonalMinSamples: 100,
  periodEvery: 128,
  periodMinAcf: 0.3,
  lagMinSamples: 50,
  shortAlpha: 0.25,
  shortClip: 5,
  zMax: 1000,
  tailQuantile: 0.9,
  tailStep: 0.02,
  tailStepInit: 1,
  tailAlpha: 0.01,
  tailFloorFrac: 0.1,
  surpriseMax: 30,
  refractoryHalfLife: 100,
  scoreHalf: 2,
} as const;

export const PROFILES: Readonly<Record<SeriesProfile, SeriesParams>> = {
  // 48 half-hour buckets, no history: ~0.6 KB, O(1) per update.
  light: { ...BASE, dayBuckets: 48, historyLength: 0 },
  // 96 quarter-hour buckets + 1024 points of history (a day of 5-minute points with margin): ~9 KB.
  full: { ...BASE, dayBuckets: 96, historyLength: 1024 },
};

export function paramsFor(profile: SeriesProfile, overrides?: Partial<SeriesParams>): SeriesParams {
  const base = PROFILES[profile];
  if (!base) throw new Error(`unknown series detector profile "${String(profile)}"`);
  return overrides ? { ...base, ...overrides } : base;
}
