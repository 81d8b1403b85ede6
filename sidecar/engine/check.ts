import type { Demand, Result } from './algorithms/index.js';
import type { CompiledRule } from './compile.js';

/**
 * One rule applied to one request: the effective demand (after tier, override and load
 * multipliers) and, once decided, its result. Stores read the demand and write the result in place,
 * so a decision allocates one of these per matching rule and nothing per algorithm step.
 */
/** Which store decided a check. */
export const Where = { None: 0, Memory: 1, Redis: 2, Fallback: 3, Leased: 4 } as const;
export type Where = (typeof Where)[keyof typeof Where];

export class Check implements Demand, Result {
  readonly rule: CompiledRule;
  /** The rule's key for this request in client-key form (`apiKey:…|ip:…`, `global`). */
  readonly key: string;
  readonly limit: number;
  readonly burst: number;
  readonly windowMs: number;
  readonly cost: number;
  readonly maxDelayMs: number;
  readonly queue: boolean;

  status = 0;
  remaining = 0;
  resetMs = 0;
  waitMs = 0;
  /**
   * Whether the store consumed an admission for this check that a later rejection of the request (by
   * another store or Cluster slot) must give back; never set for countRejected rules, which count anyway.
   * For concurrency it means "holds a lease" (released when the response ends).
   */
  committed = false;
  /** When it was decided, in the deciding store's time (refunds use it to find the window). */
  at = 0;
  /** Concurrency lease id / log member id, when the algorithm needs one. */
  token: string | null = null;
  /** Scratch: the memory store's state between evaluate and consume. */
  state: unknown = undefined;
  /**
   * > 1 when a fail-open fallback decided this check with the limit divided among the replicas: the
   * headers then report limit / divisor. (limit and burst themselves never change, so a refund of
   * the shared store's admission still uses the shared values.)
   */
  divisor = 1;
  /** Which store decided it (for releases and refunds). */
  where: Where = Where.None as Where;

  constructor(rule: CompiledRule, key: string, limit: number, burst: number, cost: number) {
    this.rule = rule;
    this.key = key;
    this.limit = limit;
    this.burst = burst;
    this.windowMs = rule.windowMs;
    this.cost = cost;
    this.maxDelayMs = rule.maxDelayMs;
    this.queue = rule.queue;
  }
}

/**
 * Whether a check consumes budget, given whether its request as a whole passed: an admitted request
 * consumes on every rule that admitted it; with countRejected a rule also counts requests that were
 * rejected (by it or by another rule). A concurrency lease is only ever taken by a passing request.
 * (The Lua driver applies the same rule.)
 */
export function shouldConsume(c: Check, requestPassed: boolean): boolean {
  if (requestPassed && c.status !== 0) return true;
  return c.rule.countRejected && !c.rule.isConcurrency;
}

/** What a refund needs of an admission, copied so later changes to the Check cannot affect it. */
export interface Consumption {
  readonly rule: CompiledRule;
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly burst: number;
  readonly cost: number;
  readonly token: string | null;
  readonly at: number;
}

export function snapshot(c: Check, cost: number = c.cost, at: number = c.at): Consumption {
  return { rule: c.rule, key: c.key, limit: c.limit, windowMs: c.windowMs, burst: c.burst, cost, token: c.token, at };
}
