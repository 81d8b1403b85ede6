import { EPSILON, QUEUE, admit, reject, rejectForever, type LocalAlgorithm } from './algorithm.js';

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

/**
 * tat is an epoch-ms time (~1.7e12), where a double resolves only 2^-12 ms, and every admission
 * adds a fractional n·T to it, so it carries a rounding error that grows with the additions since
 * the bucket was last empty. The conformance test therefore works on the backlog (tat − now, exact
 * once tat is known) rather than on epoch times, and tolerates EPSILON units plus TAT_ROUNDING × now
 * ms (2^-46 × now: 64 times the resolution of now, ~25 µs today) — otherwise a request that exactly
 * fills the bucket (cost = burst on an empty bucket, or the last unit of a burst) is refused
 * whenever the rounding happens to fall above the exact value. The tolerance can admit a request
 * at most those ~25 µs early (for T ≥ 1 ms, ≤ 0.025 units); the Lua uses the same constants.
 */
const TAT_ROUNDING = 1.4210854715202004e-14; // 2^-46

export const leakyBucket: LocalAlgorithm<LeakyBucketState> = {
  code: 'lb',

  evaluate(s, d, now, out) {
    if (d.limit <= 0) return rejectForever(out, 0, d.windowMs);
    const T = d.windowMs / d.limit;
    const cap = d.burst * T;
    const backlog = s !== undefined && s.tat > now ? s.tat - now : 0;
    const after = backlog + d.cost * T; // the backlog once this request is in
    const over = after - cap;
    const rounding = TAT_ROUNDING * now;
    const tolerance = EPSILON * T + rounding;
    // remaining with the same slack (admit adds EPSILON): exactly that many more unit requests pass now
    if (over <= tolerance) return admit(out, (cap + rounding - after) / T, after);
    const maxDelay = d.queue ? d.maxDelayMs : 0;
    if (d.cost > d.burst + maxDelay / T) return rejectForever(out, (cap - backlog) / T, cap);
    if (over <= maxDelay) {
      out.status = QUEUE;
      out.remaining = 0;
      out.waitMs = Math.ceil(over);
      out.resetMs = Math.ceil(after);
      return;
    }
    // the first ms it would pass: queued within maxDelay, or admitted within the tolerance
    reject(out, (cap - backlog) / T, over - Math.max(maxDelay, tolerance));
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
