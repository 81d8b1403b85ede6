import { EPSILON, admit, reject, rejectForever, type LocalAlgorithm } from './algorithm.js';

/**
 * Sliding window counter: counts of the previous (p) and current (c) aligned windows, estimating
 * the last W ms as p × (W − e) / W + c, e = ms elapsed in the current window (the previous window's
 * requests assumed evenly spread). Memory O(1) per key.
 *
 * Error bound (checked by the property tests):
 *  - any aligned window holds at most limit units (exact, like the fixed window);
 *  - any sliding window (t − W, t] holds at most limit + p × e/W units, p being the previous
 *    window's count, so strictly less than 2 × limit in the worst case (the previous window's
 *    requests all at its very end); with evenly spread traffic the estimate is exact.
 * The admission test is done in integers (p(W − e) + (c + cost)W ≤ limit·W) so it has no float error
 * for whole costs; fractional costs get EPSILON units of slack, like the other algorithms.
 * resetMs: until the current window ends.
 *
 * A clock that steps back by up to a window does not open a fresh window: a state whose window starts
 * at most W after now stays the current one, now counting as its first ms (the previous count weighs
 * in fully). A state further in the future is dropped (a large step must not lock a client out).
 */
export interface SlidingCounterState {
  /** Start of the current window. */
  w: number;
  c: number;
  p: number;
}

export const slidingWindowCounter: LocalAlgorithm<SlidingCounterState> = {
  code: 'swc',

  evaluate(s, d, now, out) {
    const W = d.windowMs;
    let cw = now - (now % W);
    let c = 0;
    let p = 0;
    if (s !== undefined) {
      if (s.w >= cw && s.w - now <= W) {
        cw = s.w; // later than now's window when the clock stepped back: still the current one
        c = s.c;
        p = s.p;
      } else if (s.w === cw - W) p = s.c;
    }
    const ahead = cw > now ? cw - now : 0; // ms until that window starts (clock stepped back)
    const e = now + ahead - cw;
    const L = d.limit;
    const weighted = p * (W - e);
    // EPSILON units of slack for fractional costs' float error; below 1 in these integers (so none for whole ones)
    if (weighted + (c + d.cost) * W <= L * W + Math.min(EPSILON * W, 0.5)) return admit(out, L - weighted / W - c - d.cost, cw + W - now);
    if (d.cost > L) return rejectForever(out, L - weighted / W - c, W);
    let wait: number;
    if (c + d.cost > L) {
      // not before the next window, where the current count becomes the previous one and decays
      const x = c > 0 ? Math.max(0, Math.ceil(W - ((L - d.cost) * W) / c)) : 0;
      wait = cw + W - now + x;
    } else {
      // within this window, once the previous window's weight has decayed enough
      wait = Math.ceil(W - ((L - c - d.cost) * W) / p) - e + ahead;
    }
    reject(out, L - weighted / W - c, wait);
  },

  consume(s, d, now) {
    const W = d.windowMs;
    const cw = now - (now % W);
    if (s === undefined) return { w: cw, c: d.cost, p: 0 };
    if (s.w < cw || s.w - now > W) {
      s.p = s.w === cw - W ? s.c : 0;
      s.c = 0;
      s.w = cw;
    }
    s.c += d.cost;
    return s;
  },

  refund(s, d, at) {
    // the window that was charged: still current, or rolled into the previous count (it still weighs in)
    const charged = at - (at % d.windowMs);
    if (s.w === charged) s.c = Math.max(0, s.c - d.cost);
    else if (s.w === charged + d.windowMs) s.p = Math.max(0, s.p - d.cost);
  },

  idleMs: (d) => 2 * d.windowMs,
};
