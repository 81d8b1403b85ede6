/**
 * Gradient2 (after Netflix's Gradient2Limit): compares the short-term RTT with a long-term
 * exponential average of it. While they agree (within `tolerance`) the limit grows by a small
 * queue allowance; when the short RTT rises, the limit shrinks in proportion — gradient =
 * tolerance × long / short, clamped to [0.5, 1] so one outlier window can at most halve it —
 * smoothed so one window moves the limit by at most `smoothing` of the step.
 *
 * The long average follows the short one slowly (`longWindow` samples), so a lasting change in the
 * upstream's speed becomes the new normal; when the short RTT falls far below it (load is gone), it
 * is pulled down faster. Differences from Netflix, each for the sidecar's situation:
 * - while the limit is in use, RTTs above the long average enter it with a tenth of the weight:
 *   otherwise a sustained overload teaches the reference its own inflated RTT within a minute and
 *   the limit drifts up with it (measured: 38 → 79 over 40 s against a 12-worker upstream);
 * - a dropped window (the upstream already failing) takes the 0.5 gradient at once;
 * - the default queue allowance is √limit rather than a constant 4, so larger upstreams keep
 *   proportionally enough requests queued to stay busy.
 */
import { checkBounds, clampLimit, type ConcurrencyLimit, type LimitBounds } from './limit.js';

export interface Gradient2Options extends LimitBounds {
  /**
   * Accepted ratio of short to long RTT before the limit shrinks (default 1.2; Netflix uses 1.5).
   * 1.2 keeps the upstream queue short enough that p99 under overload stays within 2× the unloaded
   * p99 (queueing model in test/unit/load: 1.5 → 2.0×, 1.2 → 1.6× against a 12-worker upstream).
   */
  readonly tolerance?: number;
  /** Weight of each new limit (default 0.2). */
  readonly smoothing?: number;
  /** Samples in the long RTT average (default 600). */
  readonly longWindow?: number;
  /** Requests allowed to queue at the upstream, as a function of the limit (default √limit). */
  readonly queueSize?: (limit: number) => number;
  /**
   * Weight of a sample in the long average while the limit is in use and the RTT is above it
   * (default 0.1): the long average is the no-load reference, so while the limit holds requests back
   * it learns a higher RTT ten times slower than a lower one.
   */
  readonly saturatedWeight?: number;
}

/** Exponential moving average that starts as a plain mean of its first samples. */
class ExpAverage {
  private value = 0;
  private count = 0;
  private readonly factor: number;

  constructor(
    window: number,
    private readonly warmup = 10,
  ) {
    this.factor = 2 / (window + 1);
  }

  /** Adds a sample with `weight` × the usual factor (1: a plain EMA step). */
  add(sample: number, weight = 1): number {
    if (this.count < this.warmup) {
      this.count++;
      this.value += (sample - this.value) / this.count;
    } else this.value += (sample - this.value) * this.factor * weight;
    return this.value;
  }

  scale(ratio: number): void {
    this.value *= ratio;
  }

  get current(): number {
    return this.value;
  }
}

export class Gradient2Limit implements ConcurrencyLimit {
  readonly name = 'gradient2';
  private limit: number;
  private readonly long: ExpAverage;
  private readonly tolerance: number;
  private readonly smoothing: number;
  private readonly queueSize: (limit: number) => number;
  private readonly saturatedWeight: number;
  lastRtt = 0;

  constructor(private readonly opts: Gradient2Options) {
    checkBounds(opts);
    this.limit = opts.initialLimit;
    this.tolerance = opts.tolerance ?? 1.2;
    this.smoothing = opts.smoothing ?? 0.2;
    this.long = new ExpAverage(opts.longWindow ?? 600);
    this.queueSize = opts.queueSize ?? ((l) => Math.sqrt(l));
    this.saturatedWeight = opts.saturatedWeight ?? 0.1;
    if (!(this.tolerance >= 1)) throw new RangeError('tolerance must be ≥ 1');
    if (!(this.smoothing > 0 && this.smoothing <= 1)) throw new RangeError('smoothing must be in (0, 1]');
  }

  getLimit(): number {
    return Math.floor(this.limit);
  }

  /** The long-term RTT (the no-load reference). */
  get longRtt(): number {
    return this.long.current;
  }

  onSample(rttMs: number, inflight: number, didDrop: boolean, _now: number): void {
    const limit = this.limit;
    let gradient: number;
    if (rttMs > 0) {
      this.lastRtt = rttMs;
      const saturated = inflight >= limit / 2 && rttMs > this.long.current;
      const long = this.long.add(rttMs, saturated ? this.saturatedWeight : 1);
      // load went away after a long overload: do not wait for the average to forget it
      if (long / rttMs > 2) this.long.scale(0.95);
      if (didDrop) gradient = 0.5;
      else {
        // the application sends less than half the limit: nothing to learn about the upstream
        if (inflight < limit / 2) return;
        gradient = Math.max(0.5, Math.min(1, (this.tolerance * this.long.current) / rttMs));
      }
    } else if (didDrop) gradient = 0.5;
    else return;
    const next = limit * gradient + this.queueSize(limit);
    this.limit = clampLimit(limit * (1 - this.smoothing) + next * this.smoothing, this.opts);
  }
}
