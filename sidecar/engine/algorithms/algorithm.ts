/**
 * The pure decision core shared by every store: each algorithm is arithmetic over a small state
 * record, with time passed in. The memory store runs these functions directly; the Redis store runs
 * the same arithmetic in Lua (../redis/lua/*.ts), and a differential test keeps the two identical.
 *
 * A decision is two-phase so that "a request passes only if every rule passes" and "a rejected
 * request does not consume budget" hold together: `evaluate` every rule first (no consumption),
 * then `consume` on the ones that should count.
 */

/** Outcome statuses (also the integers the Lua scripts return). */
export const REJECT = 0;
export const ALLOW = 1;
/** Admitted after `waitMs` (leaky bucket, mode: queue). */
export const QUEUE = 2;

/** What one rule asks of one key for one request, after tier, override and load multipliers. */
export interface Demand {
  /** Window algorithms: units per window; buckets: units per `windowMs`; concurrency: in flight. */
  readonly limit: number;
  readonly windowMs: number;
  /** Bucket capacity (token and leaky bucket). */
  readonly burst: number;
  /** Units this request costs (≥ 0; concurrency always 1). */
  readonly cost: number;
  /** Leaky bucket in queue mode: the longest delay a request may be given instead of a rejection. */
  readonly maxDelayMs: number;
  readonly queue: boolean;
}

/** Where an evaluation writes its result (a Check in practice), so evaluating allocates nothing. */
export interface Result {
  status: number;
  /** Whole units left after this request (when admitted) or now (when rejected). */
  remaining: number;
  /** Ms until the budget resets (see each algorithm); equals waitMs when rejected. */
  resetMs: number;
  /** Rejected: ms until a retry could pass. Queued: the delay. Admitted: 0. */
  waitMs: number;
}

export interface LocalAlgorithm<S> {
  /** Short code: Redis key suffix and the Lua dispatch name. */
  readonly code: string;
  /** Evaluates the request at `now` without consuming; may drop expired parts of `s` (same meaning). */
  evaluate(s: S | undefined, d: Demand, now: number, out: Result): void;
  /**
   * Consumes the request's cost: `admitted` after an admission (`status` was ALLOW or QUEUE), else a
   * counted rejection (rule option countRejected). Returns the state to keep (a new one when `s` was
   * undefined). `token` identifies the consumption (concurrency lease id).
   */
  consume(s: S | undefined, d: Demand, now: number, admitted: boolean, token: string | null): S;
  /** Gives back an admitted consumption made at `at` (a later rule or slot rejected the request). */
  refund(s: S, d: Demand, at: number, token: string | null): void;
  /** After this long unused the state means the same as no state: its TTL in both stores. */
  idleMs(d: Demand): number;
}

/**
 * Float rounding tolerated, in units: a budget within EPSILON of a request's cost admits it, and
 * `remaining` is floored with the same slack — so a header that says 1 left is never followed by a
 * refusal of a 1-unit request at the same instant (tokens computed as 0.9999999999999991).
 */
export const EPSILON = 1e-9;

/**
 * The largest `remaining` reported (2^50, above the largest header value, 15 digits). Limits reach
 * 1e18 (a limit of 1e12 × a tier multiplier of 1e6, or an override), and the Redis reply packs
 * status + 4 × remaining into one number, exact only below 2^53: 4e16 − 3 came back as 4e16, a
 * rejection of a request the memory store admitted. Both stores report the same capped value.
 */
export const MAX_REMAINING = 1125899906842624;

/**
 * The longest reset or retry time reported (2^50 ms, ~35,700 years; the same cap in Lua). The Redis
 * reply converts numbers to 64-bit integers: a bucket taking longer than 2^63 ms to fill (rate
 * 1/365d, burst 1e12) came back as -2^63, a Retry-After of 1 s where memory said never.
 */
export const MAX_MS = 1125899906842624;

function ms(x: number): number {
  return x < MAX_MS ? x : MAX_MS;
}

function whole(x: number): number {
  return x > 0 ? (x < MAX_REMAINING ? Math.floor(x) : MAX_REMAINING) : 0;
}

/** Rejection result when the request can never pass (cost above the limit, or a limit of 0). */
export function rejectForever(out: Result, remaining: number, hintMs: number): void {
  out.status = REJECT;
  out.remaining = whole(remaining);
  out.waitMs = ms(Math.max(1, Math.ceil(hintMs)));
  out.resetMs = out.waitMs;
}

export function reject(out: Result, remaining: number, waitMs: number): void {
  out.status = REJECT;
  out.remaining = whole(remaining);
  out.waitMs = ms(Math.max(1, Math.ceil(waitMs)));
  out.resetMs = out.waitMs;
}

export function admit(out: Result, remaining: number, resetMs: number): void {
  out.status = ALLOW;
  out.remaining = whole(remaining + EPSILON);
  out.resetMs = resetMs > 0 ? ms(Math.ceil(resetMs)) : 0;
  out.waitMs = 0;
}
