import { EPSILON, admit, reject, rejectForever, type LocalAlgorithm } from './algorithm.js';

/**
 * Token bucket: capacity `burst`, refilled at limit / windowMs units per ms. Exact: in any interval
 * of length T at most burst + limit × T / windowMs units pass (up to float rounding, ~1e-9 units).
 * resetMs: until the bucket is full again (the whole budget back).
 */
export interface TokenBucketState {
  /** Tokens at `ts`. */
  t: number;
  ts: number;
}

function level(s: TokenBucketState | undefined, burst: number, perMs: number, now: number): number {
  if (s === undefined) return burst;
  const elapsed = now > s.ts ? now - s.ts : 0;
  const t = s.t + elapsed * perMs;
  return t < burst ? t : burst;
}

export const tokenBucket: LocalAlgorithm<TokenBucketState> = {
  code: 'tb',

  evaluate(s, d, now, out) {
    if (d.limit <= 0) return rejectForever(out, 0, d.windowMs);
    const perMs = d.limit / d.windowMs;
    const t = level(s, d.burst, perMs, now);
    if (t + EPSILON >= d.cost) return admit(out, t - d.cost, (d.burst - t + d.cost) / perMs);
    if (d.cost > d.burst) return rejectForever(out, t, d.burst / perMs);
    reject(out, t, (d.cost - EPSILON - t) / perMs); // the first ms the admission test above passes
  },

  consume(s, d, now, admitted) {
    if (d.limit <= 0) return s ?? { t: d.burst, ts: now };
    const perMs = d.limit / d.windowMs;
    const t = level(s, d.burst, perMs, now) - d.cost;
    const next = admitted ? t : Math.max(0, t);
    if (s === undefined) return { t: next, ts: now };
    s.t = next;
    s.ts = now > s.ts ? now : s.ts;
    return s;
  },

  refund(s, d) {
    s.t = Math.min(d.burst, s.t + d.cost);
  },

  idleMs: (d) => (d.limit > 0 ? Math.ceil((d.burst * d.windowMs) / d.limit) : d.windowMs),
};
