/**
 * The analyzer's univariate streaming detector (the one `ratewarden replay` runs).
 *
 * Per update, in order (score first, then learn, so the score of a point uses only the past
 * and the point itself):
 *  1. Predict with three models and keep the one whose recent residuals are smallest
 *     (model selection by running robust error):
 *       level     winsorized EWMA location/scale (outliers move it by at most clipK scales);
 *       daily     time-of-day buckets (EWMA per bucket) — seasonality from timestamps, so
 *                 irregular sampling is fine;
 *       lag       x[t − P], P found by autocorrelation on a bounded history ('full' only) —
 *                 catches periods that are not a day (e.g. a job every 100 points).
 *  2. z = residual / robust scale of the chosen model.
 *  3. Two raw scores: |z| (spikes) and the short EWMA of clipped z (sustained shifts, drifts).
 *  4. Each raw score → surprise = −log10 P(R ≥ r) under a peaks-over-threshold tail model of the
 *     series' own raw scores (tailModel.ts), so each series is judged against its own noise.
 *  5. Refractory: the surprise minus the (decaying) surprise of the last alarm, so an event is
 *     reported once, at its start, and again only if it gets worse — NAB and operators both
 *     want the earliest detection and no repeats.
 *  6. score = s / (s + scoreHalf) ∈ [0, 1): monotone, never saturates (no ties at 1.0).
 *
 * All state lives in one Float64Array (so serialize/restore is a copy and stateBytes is exact).
 */
import { paramsFor, type SeriesParams } from './params.js';
import { detectPeriod } from './periodDetector.js';
import { TAIL_SLOTS, tailScoreThenLearn } from './tailModel.js';
import type { SeriesDetector, SeriesDetectorOptions, SeriesExplanation } from './types.js';

const FORMAT = 1;
const DAY_MS = 86_400_000;

// scalar slots
const S_FORMAT = 0;
const S_BUCKETS = 1;
const S_HISTORY = 2;
const L_N = 3; // level model: updates seen
const L_M = 4; // location
const L_S = 5; // robust scale (mean |clipped residual|)
const L_SP = 6; // plain scale (mean |residual|), floor for the robust one
const D_N = 7; // daily model: residuals seen
const D_S = 8;
const D_SP = 9;
const G_P = 10; // lag model: period (0 = none)
const G_N = 11;
const G_S = 12;
const G_SP = 13;
const H_PUSHED = 14; // history: values ever pushed
const Z_SHORT = 15; // short EWMA of clipped z
const PEAK = 16; // decaying surprise of the last alarm
const TAIL_POINT = 17;
const TAIL_SHORT = TAIL_POINT + TAIL_SLOTS;
const SCALARS = TAIL_SHORT + TAIL_SLOTS;

export function createSeriesDetector(options: SeriesDetectorOptions & { params?: Partial<SeriesParams> } = {}): SeriesDetector {
  const params = options.minScale !== undefined ? { ...options.params, minScale: options.minScale } : options.params;
  return new StreamingSeriesDetector(paramsFor(options.profile ?? 'light', params));
}

class StreamingSeriesDetector implements SeriesDetector {
  private s: Float64Array;
  private readonly p: SeriesParams;
  private readonly bucketsAt = SCALARS;
  private readonly historyAt: number;
  private readonly peakDecay: number;
  private readonly shortNorm: number;
  private readonly bucketMs: number;
  // the last prediction, kept as plain numbers (no allocation per update); see explain()
  private lastModel: SeriesExplanation['model'] | undefined;
  private lastObserved = 0;
  private lastExpected = 0;
  private lastSpread = 0;
  private lastZ = 0;
  private lastPeriod = 0;

  constructor(p: SeriesParams) {
    this.p = p;
    this.historyAt = SCALARS + p.dayBuckets;
    this.s = new Float64Array(this.historyAt + p.historyLength);
    this.s[S_FORMAT] = FORMAT;
    this.s[S_BUCKETS] = p.dayBuckets;
    this.s[S_HISTORY] = p.historyLength;
    this.s.fill(NaN, this.bucketsAt, this.historyAt); // NaN = bucket never visited
    this.peakDecay = Math.pow(0.5, 1 / p.refractoryHalfLife);
    // the stationary std of an EWMA of unit-variance noise is sqrt(a / (2 − a))
    this.shortNorm = Math.sqrt((2 - p.shortAlpha) / p.shortAlpha);
    this.bucketMs = p.dayBuckets > 0 ? DAY_MS / p.dayBuckets : 0;
  }

  get stateBytes(): number {
    return this.s.byteLength;
  }

  serialize(): Float64Array {
    return this.s.slice();
  }

  restore(state: Float64Array): void {
    if (state.length !== this.s.length || state[S_FORMAT] !== FORMAT || state[S_BUCKETS] !== this.p.dayBuckets || state[S_HISTORY] !== this.p.historyLength) {
      throw new Error('series detector state has another format or profile');
    }
    this.s = state.slice();
    this.lastModel = undefined;
  }

  explain(): SeriesExplanation | undefined {
    const model = this.lastModel;
    if (model === undefined) return undefined;
    const e = { observed: this.lastObserved, expected: this.lastExpected, spread: this.lastSpread, z: this.lastZ, model };
    return model === 'lag' ? { ...e, period: this.lastPeriod } : e;
  }

  update(x: number, tsMs: number): number {
    if (!Number.isFinite(x)) return 0;
    const s = this.s;
    const p = this.p;

    // 1. predictions and residuals
    const m = s[L_M]!;
    const n = s[L_N]!;
    const eLevel = x - m;
    const sLevel = effectiveScale(s[L_S]!, s[L_SP]!, m, p);
    let z = n > 0 ? eLevel / sLevel : 0;
    let chosenScale = s[L_S]!;
    let model: SeriesExplanation['model'] = 'level';
    let expected = n > 0 ? m : x;
    let spread = sLevel;

    let bucket = -1;
    let eDaily = NaN;
    if (this.bucketMs > 0 && Number.isFinite(tsMs)) {
      bucket = this.bucketsAt + Math.floor((((tsMs % DAY_MS) + DAY_MS) % DAY_MS) / this.bucketMs);
      const predicted = s[bucket]!;
      if (!Number.isNaN(predicted)) {
        eDaily = x - predicted;
        if (s[D_N]! >= p.seasonalMinSamples && s[D_S]! < chosenScale) {
          spread = effectiveScale(s[D_S]!, s[D_SP]!, m, p);
          z = eDaily / spread;
          chosenScale = s[D_S]!;
          model = 'daily';
          expected = predicted;
        }
      }
    }

    let eLag = NaN;
    const period = s[G_P]!;
    const pushed = s[H_PUSHED]!;
    if (period > 0 && pushed >= period) {
      const predicted = s[this.historyAt + ((pushed - period) % p.historyLength)]!;
      eLag = x - predicted;
      if (s[G_N]! >= p.lagMinSamples && s[G_S]! < chosenScale) {
        spread = effectiveScale(s[G_S]!, s[G_SP]!, m, p);
        z = eLag / spread;
        model = 'lag';
        expected = predicted;
      }
    }
    z = clamp(z, p.zMax);
    this.lastModel = model;
    this.lastObserved = x;
    this.lastExpected = expected;
    this.lastSpread = spread;
    this.lastZ = z;
    this.lastPeriod = period;

    // 2–4. raw scores → surprises under the series' own tail
    let surprise = 0;
    if (n >= p.warmup) {
      const zc = clamp(z, p.shortClip);
      const short = s[Z_SHORT]! + p.shortAlpha * (zc - s[Z_SHORT]!);
      s[Z_SHORT] = short;
      const point = tailScoreThenLearn(s, TAIL_POINT, Math.abs(z), p);
      const sustained = tailScoreThenLearn(s, TAIL_SHORT, Math.abs(short) * this.shortNorm, p);
      surprise = Math.min(Math.max(point, sustained), p.surpriseMax);
    }

    // learn: level
    const count = n + 1;
    s[L_N] = count;
    if (count === 1) {
      s[L_M] = x;
    } else {
      const a = Math.max(1 / count, p.levelAlpha);
      const as = Math.max(1 / count, p.scaleAlpha);
      const c = clamp(eLevel, p.clipK * sLevel);
      s[L_M] = m + a * c;
      s[L_S] = s[L_S]! + as * (Math.abs(c) - s[L_S]!);
      s[L_SP] = s[L_SP]! + as * (Math.abs(eLevel) - s[L_SP]!);
    }
    // learn: daily buckets
    if (bucket >= 0) {
      if (Number.isNaN(eDaily)) s[bucket] = x;
      else {
        const c = learnResidualScale(s, D_N, D_S, D_SP, eDaily, m, p);
        s[bucket] = s[bucket]! + p.bucketAlpha * c;
      }
    }
    // learn: lag model and history
    if (p.historyLength > 0) {
      if (!Number.isNaN(eLag)) learnResidualScale(s, G_N, G_S, G_SP, eLag, m, p);
      s[this.historyAt + (pushed % p.historyLength)] = x;
      const nowPushed = pushed + 1;
      s[H_PUSHED] = nowPushed;
      if (nowPushed % p.periodEvery === 0 && nowPushed >= 2 * p.periodEvery) {
        const found = detectPeriod(s.subarray(this.historyAt), nowPushed, p.periodMinAcf);
        if (found !== period) {
          s[G_P] = found;
          s[G_N] = 0;
          s[G_S] = 0;
          s[G_SP] = 0;
        }
      }
    }

    // 5. refractory, 6. map
    const peak = s[PEAK]!;
    const out = Math.max(0, surprise - peak);
    s[PEAK] = Math.max(peak * this.peakDecay, surprise);
    return out / (out + p.scoreHalf);
  }
}

function clamp(v: number, limit: number): number {
  return v > limit ? limit : v < -limit ? -limit : v;
}

/** The robust scale, floored so that a mostly-flat or spiky series never divides by ~0. */
function effectiveScale(robust: number, plain: number, location: number, p: SeriesParams): number {
  return Math.max(robust, p.scaleFloorFrac * plain, p.minScale, 1e-9 * Math.abs(location), 1e-12);
}

/** Updates a residual model's robust/plain scale; returns the clipped residual to learn with. */
function learnResidualScale(s: Float64Array, nAt: number, sAt: number, spAt: number, e: number, m: number, p: SeriesParams): number {
  const n = s[nAt]! + 1;
  s[nAt] = n;
  const a = Math.max(1 / n, p.scaleAlpha);
  // the first few residuals are taken whole: there is no scale to clip them against yet
  const c = n > 10 ? clamp(e, p.clipK * effectiveScale(s[sAt]!, s[spAt]!, m, p)) : e;
  s[sAt] = s[sAt]! + a * (Math.abs(c) - s[sAt]!);
  s[spAt] = s[spAt]! + a * (Math.abs(e) - s[spAt]!);
  return c;
}
