import { admit, reject, type LocalAlgorithm } from './algorithm.js';

/**
 * Concurrency: requests in flight. Each admitted request holds a lease (id → expiry); the lease is
 * released when the response ends, is aborted or times out, and expires by itself after windowMs
 * (the rule's timeout) so a lost release — or, in Redis, a dead sidecar — cannot hold capacity.
 * Exact. A rejected request is retried after a 1 s hint (in-flight requests end at any moment).
 * resetMs: 0 while capacity is left.
 */
export interface ConcurrencyState {
  /** Lease id → expiry (epoch ms), in acquisition order. */
  leases: Map<string, number>;
}

export const CONCURRENCY_RETRY_MS = 1_000;

function prune(s: ConcurrencyState, now: number): void {
  for (const [id, expiry] of s.leases) {
    if (expiry > now) break; // acquisition order ≈ expiry order for one rule
    s.leases.delete(id);
  }
}

export const concurrency: LocalAlgorithm<ConcurrencyState> = {
  code: 'cc',

  evaluate(s, d, now, out) {
    if (s !== undefined) prune(s, now);
    const inFlight = s === undefined ? 0 : s.leases.size;
    if (inFlight + 1 <= d.limit) return admit(out, d.limit - inFlight - 1, 0);
    reject(out, d.limit - inFlight, CONCURRENCY_RETRY_MS);
  },

  consume(s, d, now, admitted, token) {
    const state = s ?? { leases: new Map<string, number>() };
    if (admitted && token !== null) state.leases.set(token, now + d.windowMs);
    return state;
  },

  refund(s, _d, _at, token) {
    if (token !== null) s.leases.delete(token);
  },

  idleMs: (d) => d.windowMs,
};
