/**
 * The adaptive concurrency limit's contract, after Netflix concurrency-limits' `Limit`: a strategy
 * object that holds an estimate of how many requests the upstream can have in flight before it
 * queues, and revises it from samples of completed requests. Strategies (AIMD, Vegas, Gradient2)
 * are interchangeable behind this interface, chosen by the policy's
 * `upstream.adaptiveConcurrency.strategy`, and are pure: no timers, no clock of their own — time
 * arrives with each sample, so tests drive them with synthetic upstreams.
 */

export interface ConcurrencyLimit {
  /** The current limit: a whole number within the strategy's bounds. */
  getLimit(): number;
  /**
   * One completed request (or, behind WindowedLimit, one window of them).
   * @param rttMs     round trip to the upstream's answer (ms)
   * @param inflight  requests in flight when it was admitted (itself included)
   * @param didDrop   the upstream dropped it: timeout, connect failure, or its own 503/429/502/504
   * @param now       epoch ms (windowing and probes only)
   */
  onSample(rttMs: number, inflight: number, didDrop: boolean, now: number): void;
  /** Strategy name for logs and metrics. */
  readonly name: string;
}

export interface LimitBounds {
  readonly minLimit: number;
  readonly maxLimit: number;
  readonly initialLimit: number;
}

export function clampLimit(value: number, bounds: LimitBounds): number {
  if (!Number.isFinite(value)) return bounds.minLimit;
  return Math.max(bounds.minLimit, Math.min(bounds.maxLimit, value));
}

export function checkBounds(bounds: LimitBounds): void {
  const { minLimit, maxLimit, initialLimit } = bounds;
  if (!(minLimit >= 1 && minLimit <= initialLimit && initialLimit <= maxLimit)) {
    throw new RangeError(`adaptive concurrency needs 1 ≤ minLimit ≤ initialLimit ≤ maxLimit (got ${minLimit}, ${initialLimit}, ${maxLimit})`);
  }
}
