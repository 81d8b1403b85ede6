import { admit, reject, rejectForever, type Demand, type LocalAlgorithm } from './algorithm.js';

/**
 * Fixed window: a counter per aligned window [w, w + W). Exact per window; by construction up to
 * 2 × limit can pass within a short span around a window edge (limit at the end of one window, limit
 * at the start of the next) — the known boundary burst, demonstrated in the tests.
 * resetMs: until the window ends.
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
    const w = now - (now % d.windowMs);
    const count = s !== undefined && s.w === w ? s.c : 0;
    const end = w + d.windowMs - now;
    if (count + d.cost <= d.limit) return admit(out, d.limit - count - d.cost, end);
    if (d.cost > d.limit) return rejectForever(out, d.limit - count, d.windowMs);
    reject(out, d.limit - count, end);
  },

  consume(s, d, now, _admitted, _token) {
    const w = now - (now % d.windowMs);
    if (s === undefined) return { w, c: d.cost };
    if (s.w !== w) {
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

