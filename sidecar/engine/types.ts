/**
 * The enforcement engine's outward contract: what the sidecar hands it per request, and the verdict
 * it gets back. Everything behind `Engine` (algorithms, stores, Lua, leases, fallback) is the
 * engine's own business; the sidecar (proxy, identity, events, control plane) only sees this file.
 */
import type { Policy } from '../../models/policy/index.js';
import type { Decision } from '../../models/events.js';
import type { Redis, Cluster } from 'ioredis';

/** Injected time source (epoch ms), so algorithms are tested at window edges without sleeping. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** What the identity layer learned about one request: everything the engine decides on. */
export interface RequestFacts {
  /** Upper-case. */
  readonly method: string;
  /** Path without the query string, as received (percent-encoding untouched). */
  readonly path: string;
  /** Host header, lower-case, without port ('' when absent). */
  readonly host: string;
  /** Client IP after trusted-proxy resolution; IPv6 already reduced to `identity.ipv6Prefix` (e.g. `2001:db8:1:2::/64`). */
  readonly ip: string;
  /** 16-hex id of the API key (never the key), or null. */
  readonly apiKeyId: string | null;
  /** Claim of a JWT whose signature verified, or null. */
  readonly user: string | null;
  /** Resolved tier name: static client map, else verified JWT tier claim, else the policy's defaultTier. */
  readonly tier: string;
  /** The request's client key (events, blocks, overrides): `apiKey:<id>`, else `user:<claim>`, else `ip:<ip>`. */
  readonly clientKey: string;
  /** Every identity of the request a block or override may name (`apiKey:…`, `user:…`, `ip:…`, and clientKey). */
  readonly identities: readonly string[];
  /** Lower-case header name → first value. */
  header(name: string): string | undefined;
  /**
   * The GraphQL request, present only when `Engine.needsBody` said so and the body held one
   * (`{query, operationName?, variables?}` from a JSON POST body or the `query` parameter of a GET).
   */
  readonly graphql?: {
    readonly query: string;
    readonly operationName?: string | null;
    /** Variables, used to resolve `first`/`last`/`limit: $n` arguments (optional). */
    readonly variables?: Readonly<Record<string, unknown>> | null;
    /** Set when the body could not be read as the server would: the request is refused with this reason (graphqlCost.ts). */
    readonly unpriceable?: string;
  } | null;
}

/** The control plane as the engine sees it; the sidecar's subscriber implements it. */
export interface ControlView {
  /** The active block on any of these identities at `now`, or null. `until` is honoured here. */
  block(identities: readonly string[], now: number): { until: number; reason: string; anomalyId?: string } | null;
  /**
   * The active override for this rule and client at `now`, most specific first:
   * `<rule>|<client>`, `*|<client>`, `<rule>|*`, `*|*` (checked for each identity). Null when none.
   */
  override(ruleId: string, identities: readonly string[], now: number): { multiplier?: number; limit?: number } | null;
  /** The service's load multiplier for a tier at `now` (1 when none or expired). */
  loadMultiplier(tier: string, now: number): number;
}

export const NO_CONTROL: ControlView = {
  block: () => null,
  override: () => null,
  loadMultiplier: () => 1,
};

/** One matching rule's result, what the headers are built from. */
export interface RuleOutcome {
  readonly ruleId: string;
  readonly allowed: boolean;
  readonly shadow: boolean;
  /** Effective limit after tier, override and load multipliers (q of RateLimit-Policy). */
  readonly limit: number;
  readonly remaining: number;
  /** Window / period in ms (w of RateLimit-Policy, in seconds there). */
  readonly windowMs: number;
  /** Ms until the budget is fully (window) or partly (bucket) available again (t of RateLimit). */
  readonly resetMs: number;
  /** Ms until a retry of this request could pass (0 when allowed). */
  readonly retryAfterMs: number;
}

export type VerdictKind =
  | 'allow' // forward now
  | 'queue' // forward after delayMs (leaky-bucket mode: queue)
  | 'limit' // 429
  | 'block' // 403 from the control plane
  | 'bad-request' // 400: e.g. GraphQL deeper than maxDepth or unparseable
  | 'unavailable'; // 503: store down and failMode closed

export interface Verdict {
  readonly kind: VerdictKind;
  /** For the CallEvent. */
  readonly decision: Decision;
  /** The rule that decided (first rejecting rule, else the most constraining), or null when none matched. */
  readonly rule: string | null;
  /** Every matching rule's outcome, shadow rules included. */
  readonly outcomes: readonly RuleOutcome[];
  /** The most constraining non-shadow outcome, for X-RateLimit-* and RateLimit headers (null: no headers). */
  readonly headline: RuleOutcome | null;
  /** Queue delay (kind queue). */
  readonly delayMs: number;
  /** Units this request cost (max over the matching rules' costs). */
  readonly cost: number;
  /** For kind block. */
  readonly block?: { readonly until: number; readonly reason: string; readonly anomalyId?: string };
  /** Human text for 400 / 503 bodies. */
  readonly detail?: string;
  /**
   * Ms until a retry could pass, for Retry-After: kind limit (= headline.retryAfterMs, the largest over
   * the rejecting rules, never earlier than headline.resetMs), unavailable (a short back-off) and block
   * (until − now). Absent for allow / queue / bad-request.
   */
  readonly retryAfterMs?: number;
  /**
   * Concurrency leases taken by this request: call exactly once when the response ends, is aborted
   * or times out (idempotent). Absent when no concurrency rule matched.
   */
  readonly release?: () => void;
  /**
   * Gives back everything this request consumed, as if it had never been admitted — for a request
   * the upstream never answered (502/504 made by the sidecar), which must not count against the
   * client. Releases its concurrency leases too (so `release` after it is a no-op, and it is a
   * no-op after `release` for those). Idempotent, fire and forget: never throws, never awaited
   * (Redis refunds are batched like decisions). Present for `allow` and `queue` verdicts that
   * consumed something.
   */
  readonly refund?: () => void;
}

export interface EngineHooks {
  /** A store call failed or timed out (counted as store_errors_total). Called once per failed store call. */
  storeError?(err: Error): void;
  /** Keys evicted from a bounded memory store (LRU full) — state a client could create, dropped. */
  keysEvicted?(count: number): void;
}

/** Counters and gauges the sidecar may export (all monotonic except `keys` and `storeHealthy`). */
export interface EngineStats {
  /** Keys held by the memory stores (main + fail-open fallback + leases). */
  readonly keys: number;
  /** Keys evicted from the memory stores because they were full. */
  readonly evictions: number;
  /** Failed or timed-out store calls. */
  readonly storeErrors: number;
  /** Decisions taken by the fail-open local fallback instead of the shared store. */
  readonly fallbackDecisions: number;
  /** Requests answered 503 because the shared store was unavailable (failMode closed). */
  readonly unavailableDecisions: number;
  /** Script calls sent to Redis (each carries a batch of decisions). */
  readonly storeCalls: number;
  /** Decisions sent to Redis (storeDecisions / storeCalls = mean batch size). */
  readonly storeDecisions: number;
  /**
   * Decisions (and slice fetches) not sent to Redis because its queue was full — Redis slower than
   * the request rate, though answering in time — and decided by failMode instead (fail open: also
   * counted in fallbackDecisions).
   */
  readonly storeShed: number;
  readonly storeHealthy: boolean;
}

/** Everything `createEngine` takes. Only `policy` and `service` are required. */
export interface EngineOptions {
  readonly policy: Policy;
  /** The service name (RW_SERVICE), for the control plane's load multiplier. */
  readonly service: string;
  /** Required when policy.store.kind is 'redis' (single node or Cluster). */
  readonly redis?: Redis | Cluster | null;
  readonly clock?: Clock;
  readonly control?: ControlView;
  readonly hooks?: EngineHooks;
  /** Unique id of this sidecar (RW_POD), used in concurrency lease ids; random when absent. */
  readonly instanceId?: string;
  /**
   * Where Redis scripts take the time from: `server` (default; Redis TIME, so sidecars with skewed
   * clocks agree) or `clock` (the injected clock, for deterministic tests against real Redis).
   */
  readonly redisTime?: 'server' | 'clock';
  /** Redis batching: decisions waiting while `maxInFlight` script calls are outstanding go out together. */
  readonly batch?: { readonly maxInFlight?: number; readonly maxBatch?: number };
}

export interface Engine {
  /** Whether a request needs its body read before deciding (a matching rule has a GraphQL cost). */
  needsBody(method: string, path: string, host: string): boolean;
  decide(facts: RequestFacts): Promise<Verdict>;
  /** Hot reload: later decisions use the new policy; counters of unchanged rules are kept. */
  setPolicy(policy: Policy): void;
  /** Whether the store answers (for /readyz). */
  storeHealthy(): boolean;
  /** Counters for metrics (store errors, evictions, fallback decisions, batching). */
  stats?(): EngineStats;
  close(): Promise<void>;
}
