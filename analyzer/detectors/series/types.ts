/**
 * The contract every univariate streaming detector in this folder keeps, so the analyzer and
 * `ratewarden replay` can use any of them interchangeably (one strategy object per series,
 * Netflix concurrency-limits style).
 */
export interface SeriesDetector {
  /**
   * Scores `value` observed at `tsMs` (epoch ms) and then learns it. Causal: the score depends
   * only on this and earlier updates. Returns an anomaly score in [0, 1]; a non-finite value
   * scores 0 and leaves the state untouched.
   */
  update(value: number, tsMs: number): number;
  /** Bytes of state this series keeps (the whole state: what serialize() returns). */
  readonly stateBytes: number;
  /** A copy of the complete state; restore() on a detector of the same name/profile resumes it exactly. */
  serialize(): Float64Array;
  /**
   * Why the last finite value got its score (for anomaly reports' explanation): what the
   * detector expected, its spread, the robust z, and which model made the prediction.
   * undefined before the first finite value (and after restore(), until the next update).
   */
  explain(): SeriesExplanation | undefined;
  /** Replaces the state with one serialize() produced; throws on a state of another shape. */
  restore(state: Float64Array): void;
}

export interface SeriesExplanation {
  readonly observed: number;
  /** The prediction the value was compared with. */
  readonly expected: number;
  /** The robust spread (mean absolute deviation of the chosen model's residuals). */
  readonly spread: number;
  /** (observed − expected) / spread, capped at ±zMax. */
  readonly z: number;
  /** 'level' (robust EWMA), 'daily' (time-of-day bucket), 'lag' (value one period ago), 'window' (baselines). */
  readonly model: 'level' | 'daily' | 'lag' | 'window';
  /** The period in updates when model is 'lag'. */
  readonly period?: number;
}

export type SeriesProfile = 'light' | 'full';

export interface SeriesDetectorOptions {
  /**
   * 'light' (default for per-client series): time-of-day seasonality only, ~0.6 KB of state.
   * 'full' (per-service series, replay, NAB): adds a 1024-point history with autocorrelation
   * period detection, ~9 KB of state. Same code, different sizes.
   */
  profile?: SeriesProfile;
  /**
   * The smallest change that can matter, in the series' units (default 0). For sparse counts
   * (a client idle for hours, then 1 request) pass the count resolution, e.g. 1: without it a
   * series that was exactly constant so far calls any change maximally surprising.
   */
  minScale?: number;
}
