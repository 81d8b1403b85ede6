/**
 * AIMD: additive increase while the upstream keeps up, multiplicative decrease when it does not.
 *
 * Netflix's AIMDLimit backs off only on drops (and RTTs beyond a fixed timeout), which against an
 * upstream that queues instead of failing means growing until the queue overflows. Here a sample
 * also counts as congested when its RTT exceeds `tolerance` × the no-load RTT (the lowest RTT of
 * the last `noLoadWindowMs`, re-measured so a permanently slower upstream becomes the new normal),
 * so AIMD stops where latency starts to rise, like the latency-aware strategies.
 */
import { checkBounds, clampLimit, type ConcurrencyLimit, type LimitBounds } from './limit.js';

export interface AimdOptions extends LimitBounds {
  /** Multiplier on a congested sample (default 0.9). */
  readonly backoffRatio?: number;
  /** Added per uncongested sample while the limit is in use (default 1). */
  readonly increase?: number;
  /** RTT above tolerance × no-load RTT counts as congestion (default 2). */
  readonly tolerance?: number;
  /** The no-load RTT is the minimum over windows of this length (default 60 s). */
  readonly noLoadWindowMs?: number;
}

export class AimdLimit implements ConcurrencyLimit {
  readonly name = 'aimd';
  private limit: number;
  private readonly backoff: number;
  private readonly increase: number;
  private readonly tolerance: number;
  private readonly noLoadWindowMs: number;
  /** Minimum RTT of the previous and the current window (the estimate is the lower of the two). */
  private prevMin = Infinity;
  private curMin = Infinity;
  private windowStart = -Infinity;

  constructor(private readonly opts: AimdOptions) {
    checkBounds(opts);
    this.limit = opts.initialLimit;
    this.backoff = opts.backoffRatio ?? 0.9;
    this.increase = opts.increase ?? 1;
    this.tolerance = opts.tolerance ?? 2;
    this.noLoadWindowMs = opts.noLoadWindowMs ?? 60_000;
    if (!(this.backoff > 0 && this.backoff < 1)) throw new RangeError('backoffRatio must be in (0, 1)');
  }

  getLimit(): number {
    return Math.floor(this.limit);
  }

  /** The no-load RTT estimate (Infinity before the first sample). */
  get rttNoLoad(): number {
    return Math.min(this.prevMin, this.curMin);
  }

  onSample(rttMs: number, inflight: number, didDrop: boolean, now: number): void {
    if (now - this.windowStart >= this.noLoadWindowMs) {
      this.prevMin = this.curMin;
      this.curMin = Infinity;
      this.windowStart = now;
    }
    // a window without a measured answer and not dropped (its few failures did not make it a
    // dropped window): no evidence either way, so no growth on it
    if (!didDrop && !(rttMs > 0)) return;
    if (!didDrop && rttMs < this.curMin) this.curMin = rttMs;
    const congested = didDrop || rttMs > this.tolerance * this.rttNoLoad;
    if (congested) this.limit = clampLimit(this.limit * this.backoff, this.opts);
    // grow only when the limit is what holds requests back (not while the app sends little)
    else if (inflight * 2 >= this.limit) this.limit = clampLimit(this.limit + this.increase, this.opts);
  }
}
