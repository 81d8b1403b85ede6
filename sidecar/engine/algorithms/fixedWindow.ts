import { EPSILON, admit, reject, rejectForever, type Demand, type LocalAlgorithm } from './algorithm.js';

/**
 * Fixed window: a counter per aligned window [w, w + W). Exact per window; by construction up to
 * 2 × limit can pass within a short span around a window edge (limit at the end of one window, limit
 * at the start of the next) — the known boundary burst, demonstrated in the tests.
 * resetMs: until the window ends.
 *
 * A clock that steps back (NTP, a Redis failover to a primary whose clock is behind) by up to a
 * window does not open a fresh window: a state whose window starts at most W after now stays the
 * current one until time catches up (otherwise every step back across an edge admitted another full
 * limit). A state further in the future is dropped, so a large step cannot lock a client out for it.
 */
export interface FixedWindowState {
  /** Window start (epoch ms). */
  w: number;
  /** Units counted in that window. */
  c: number;
}

export const fixedWindow: LocalAlgorithm<FixedWindowState> = {
  code: 'fw',

  evaluate(s, d, now, out) {
    let w = now - (now % d.windowMs);
    let count = 0;
    if (s !== undefined && s.w >= w && s.w - now <= d.windowMs) {
      w = s.w; // a later window than now's: the clock stepped back, that window is still the current one
      count = s.c;
    }
    const end = w + d.windowMs - now;
    // EPSILON: fractional costs add up with float error (ten requests of 0.7 make 7.000000000000001 > 7)
    if (count + d.cost <= d.limit + EPSILON) return admit(out, d.limit - count - d.cost, end);
    if (d.cost > d.limit) return rejectForever(out, d.limit - count, d.windowMs);
    reject(out, d.limit - count, end);
  },

  consume(s, d, now, _admitted, _token) {
    const w = now - (now % d.windowMs);
    if (s === undefined) return { w, c: d.cost };
    if (s.w < w || s.w - now > d.windowMs) {
      s.w = w;
      s.c = 0;
    }
    s.c += d.cost;
    return s;
  },

  refund(s, d, at) {
    if (s.w === at - (at % d.windowMs)) s.c = Math.max(0, s.c - d.cost);
  },

  idleMs: (d: Demand) => d.windowMs,
};

