/**
 * Vegas (after TCP Vegas and Netflix's VegasLimit): estimates the upstream's queue from how much
 * the RTT exceeds the no-load RTT — queue ≈ limit × (1 − rttNoLoad / rtt) — and keeps it between
 * `alpha` and `beta` requests (both grow with log10 of the limit, so larger limits tolerate
 * proportionally shorter queues). A drop shrinks the limit at once.
 *
 * The no-load RTT is the lowest RTT seen; every `probeMultiplier` × limit samples it is re-measured
 * from the current sample, so an upstream that became permanently slower is not throttled forever.
 * (No random jitter: the probe period depends only on the samples, so runs are reproducible.)
 */
import { checkBounds, clampLimit, type ConcurrencyLimit, type LimitBounds } from './limit.js';

export interface VegasOptions extends LimitBounds {
  /** Weight of a new limit (1: take it as is; default 1). */
  readonly smoothing?: number;
  /** Samples between no-load RTT probes, as a multiple of the limit (default 30). */
  readonly probeMultiplier?: number;
}

export class VegasLimit implements ConcurrencyLimit {
  readonly name = 'vegas';
  private limit: number;
  private noLoad = 0;
  private samplesSinceProbe = 0;
  private readonly smoothing: number;
  private readonly probeMultiplier: number;

  constructor(private readonly opts: VegasOptions) {
    checkBounds(opts);
    this.limit = opts.initialLimit;
    this.smoothing = opts.smoothing ?? 1;
    this.probeMultiplier = opts.probeMultiplier ?? 30;
  }

  getLimit(): number {
    return Math.floor(this.limit);
  }

  get rttNoLoad(): number {
    return this.noLoad;
  }

  onSample(rttMs: number, inflight: number, didDrop: boolean, _now: number): void {
    if (!(rttMs > 0) && !didDrop) return;
    if (++this.samplesSinceProbe >= this.probeMultiplier * this.getLimit() && !didDrop) {
      this.samplesSinceProbe = 0;
      this.noLoad = rttMs;
      return;
    }
    if (!didDrop && (this.noLoad === 0 || rttMs < this.noLoad)) {
      this.noLoad = rttMs;
      return;
    }
    const limit = this.limit;
    const log = Math.max(1, Math.log10(limit));
    let next: number;
    if (didDrop) next = limit - log;
    else {
      // the upstream is not what holds requests back: no evidence for a larger limit
      if (inflight * 2 < limit) return;
      const queue = Math.ceil(limit * (1 - this.noLoad / rttMs));
      if (queue <= log) next = limit + 6 * log;
      else if (queue < 3 * log) next = limit + log;
      else if (queue > 6 * log) next = limit - log;
      else return;
    }
    next = clampLimit(next, this.opts);
    this.limit = clampLimit((1 - this.smoothing) * limit + this.smoothing * next, this.opts);
  }
}
