import { QUEUE, admit, reject, rejectForever, type LocalAlgorithm } from './algorithm.js';

/**
 * Leaky bucket as GCRA (generic cell rate algorithm): one number per key, the theoretical arrival
 * time (tat) of the next unit. Emission interval T = windowMs / limit; a request of cost n moves
 * tat to max(tat, now) + n·T and conforms while tat − now ≤ burst·T (the bucket holds `burst`).
 * Exact like the token bucket (it is the same conformance test, stated as a time).
 *
 * mode: queue — a request that does not conform yet is admitted after the delay that makes it
 * conform (tat − now − burst·T), if that delay is ≤ maxDelayMs, and rejected beyond.
 * resetMs: until the bucket has drained empty.
 */
export interface LeakyBucketState {
  tat: number;
}

export const leakyBucket: LocalAlgorithm<LeakyBucketState> = {
  code: 'lb',

  evaluate(s, d, now, out) {
    if (d.limit <= 0) return rejectForever(out, 0, d.windowMs);
    const T = d.windowMs / d.limit;
    const cap = d.burst * T;
    const tat = s !== undefined && s.tat > now ? s.tat : now;
    const next = tat + d.cost * T;
    const over = next - now - cap;
    if (over <= 1e-9) return admit(out, (cap - (next - now)) / T, next - now);
    const maxDelay = d.queue ? d.maxDelayMs : 0;
    if (d.cost > d.burst + maxDelay / T) return rejectForever(out, (cap - (tat - now)) / T, cap);
    if (over <= maxDelay) {
      out.status = QUEUE;
      out.remaining = 0;
      out.waitMs = Math.ceil(over);
      out.resetMs = Math.ceil(next - now);
      return;
    }
    reject(out, (cap - (tat - now)) / T, over - maxDelay);
  },

  consume(s, d, now, admitted) {
    if (d.limit <= 0) return s ?? { tat: now };
    const T = d.windowMs / d.limit;
    const tat = s !== undefined && s.tat > now ? s.tat : now;
    let next = tat + d.cost * T;
    if (!admitted) next = Math.max(tat, Math.min(next, now + d.burst * T + (d.queue ? d.maxDelayMs : 0)));
    if (s === undefined) return { tat: next };
    s.tat = next;
    return s;
  },

  refund(s, d) {
    s.tat -= d.cost * (d.windowMs / d.limit);
  },

  idleMs: (d) => (d.limit > 0 ? Math.ceil((d.burst * d.windowMs) / d.limit) + d.maxDelayMs : d.windowMs),
};
