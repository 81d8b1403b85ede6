/**
 * Feeds a strategy one aggregate per window instead of one sample per request (as Netflix's
 * WindowedLimit does): per-request RTTs are noisy, and a strategy that moved on each of them would
 * chase the noise. A window closes once it is at least `minWindowMs` old and holds `minSamples`
 * samples, or at `maxWindowMs` whatever it holds; the strategy then sees the mean RTT of the
 * requests that were not dropped, the largest in-flight count, and whether any was dropped.
 *
 * Short windows (100 ms by default, vs. Netflix's 1 s) because the sidecar must react within a
 * second or two of an overload; at a few hundred requests per second that is still tens of samples.
 */
import type { ConcurrencyLimit } from './limit.js';

export interface WindowOptions {
  readonly minWindowMs?: number;
  readonly maxWindowMs?: number;
  readonly minSamples?: number;
}

export class WindowedLimit implements ConcurrencyLimit {
  readonly name: string;
  private start = -Infinity;
  private count = 0;
  private rttSum = 0;
  private rttCount = 0;
  private maxInflight = 0;
  private dropped = false;
  private readonly minWindowMs: number;
  private readonly maxWindowMs: number;
  private readonly minSamples: number;
  /** Windows handed to the strategy (for tests and metrics). */
  windows = 0;

  constructor(
    readonly inner: ConcurrencyLimit,
    opts: WindowOptions = {},
  ) {
    this.name = inner.name;
    this.minWindowMs = opts.minWindowMs ?? 100;
    this.maxWindowMs = opts.maxWindowMs ?? 1_000;
    this.minSamples = opts.minSamples ?? 10;
  }

  getLimit(): number {
    return this.inner.getLimit();
  }

  onSample(rttMs: number, inflight: number, didDrop: boolean, now: number): void {
    if (this.count === 0) this.start = now;
    this.count++;
    if (didDrop) this.dropped = true;
    else if (rttMs > 0) {
      this.rttSum += rttMs;
      this.rttCount++;
    }
    if (inflight > this.maxInflight) this.maxInflight = inflight;
    const age = now - this.start;
    if ((age >= this.minWindowMs && this.count >= this.minSamples) || age >= this.maxWindowMs) {
      const rtt = this.rttCount > 0 ? this.rttSum / this.rttCount : 0;
      this.inner.onSample(rtt, this.maxInflight, this.dropped, now);
      this.windows++;
      this.count = 0;
      this.rttSum = 0;
      this.rttCount = 0;
      this.maxInflight = 0;
      this.dropped = false;
    }
  }
}
