import { EPSILON, admit, reject, rejectForever, type LocalAlgorithm } from './algorithm.js';

/**
 * Sliding window log: the time and cost of every counted request in the last W ms; a request passes
 * when the costs inside (now − W, now] plus its own stay within the limit. Exact in every window of
 * length W, at the price of one entry per counted request (at most limit entries, 2 × limit units
 * with countRejected, whose extra rejected entries stop being recorded at that cap).
 * resetMs: until every entry now in the log has left the window.
 */
export interface SlidingLogState {
  times: number[];
  costs: number[];
  /** Index of the oldest live entry (entries before it have expired). */
  head: number;
  /** Sum of live costs. */
  sum: number;
}

function prune(s: SlidingLogState, cutoff: number): void {
  const { times, costs } = s;
  let h = s.head;
  while (h < times.length && times[h]! <= cutoff) {
    s.sum -= costs[h]!;
    h++;
  }
  if (h === times.length) {
    times.length = 0;
    costs.length = 0;
    s.head = 0;
    s.sum = 0; // drop accumulated float dust
  } else if (h > 32 && h * 2 > times.length) {
    times.splice(0, h);
    costs.splice(0, h);
    s.head = 0;
  } else s.head = h;
}

export const slidingWindowLog: LocalAlgorithm<SlidingLogState> = {
  code: 'swl',

  evaluate(s, d, now, out) {
    const W = d.windowMs;
    if (s !== undefined) prune(s, now - W);
    const sum = s === undefined ? 0 : s.sum;
    // EPSILON: fractional costs add up with float error (ten requests of 0.7 make 7.000000000000001 > 7)
    if (sum + d.cost <= d.limit + EPSILON) return admit(out, d.limit - sum - d.cost, W);
    if (d.cost > d.limit) return rejectForever(out, d.limit - sum, W);
    // the request fits once enough of the oldest entries have left the window
    const need = sum + d.cost - d.limit - EPSILON;
    let freed = 0;
    let i = s!.head;
    while (freed < need && i < s!.times.length) freed += s!.costs[i++]!;
    reject(out, d.limit - sum, s!.times[i - 1]! + W - now);
  },

  consume(s, d, now, admitted) {
    if (s === undefined) return { times: [now], costs: [d.cost], head: 0, sum: d.cost };
    if (!admitted && s.sum >= 2 * d.limit) return s;
    s.times.push(now);
    s.costs.push(d.cost);
    s.sum += d.cost;
    return s;
  },

  refund(s, d, at) {
    // the entry goes (as its member does in Redis): a zero-cost entry kept for W would let refunded
    // requests grow the log without bound (200k refunds on a limit of 5 held 200k entries)
    for (let i = s.times.length - 1; i >= s.head; i--) {
      if (s.times[i] === at && s.costs[i] === d.cost) {
        if (i === s.times.length - 1) {
          s.times.pop();
          s.costs.pop();
        } else {
          s.times.splice(i, 1);
          s.costs.splice(i, 1);
        }
        s.sum -= d.cost;
        if (s.head === s.times.length) {
          s.times.length = 0;
          s.costs.length = 0;
          s.head = 0;
          s.sum = 0; // drop accumulated float dust
        }
        return;
      }
    }
  },

  idleMs: (d) => d.windowMs,
};
