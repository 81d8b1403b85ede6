/**
 * The normalised, immutable policy: what the policy file means once parsed, validated and with
 * every default filled. Durations are milliseconds, rates are `limit` per `windowMs`.
 * Produced only by `parsePolicy` (models/policy/parse.ts); deep-frozen.
 */

export const ALGORITHMS = [
  'fixed-window',
  'sliding-window-log',
  'sliding-window-counter',
  'token-bucket',
  'leaky-bucket',
  'concurrency',
] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export const HEADER_STYLES = ['x-ratelimit', 'ietf'] as const;
export type HeaderStyle = (typeof HEADER_STYLES)[number];

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] as const;

/** One part of a rule's key. A request without a value for a part falls back to `ip` for that part. */
export type KeyPart =
  | { readonly kind: 'global' }
  | { readonly kind: 'ip' }
  | { readonly kind: 'apiKey' }
  | { readonly kind: 'user' }
  | { readonly kind: 'route' }
  | { readonly kind: 'header'; readonly name: string };

export interface RuleMatch {
  /** Upper-case methods, or null for any. */
  readonly methods: readonly string[] | null;
  /** Path globs (picomatch syntax, `**` crosses `/`), or null for any path. */
  readonly paths: readonly string[] | null;
  /** Host globs matched against the Host header without port, or null for any host. */
  readonly hosts: readonly string[] | null;
}

export interface GraphqlCost {
  readonly maxDepth: number;
  readonly fieldCost: number;
  readonly listFactor: number;
  /** Requests costing more than this are refused with 400 (null: no cap besides the limit). */
  readonly maxCost: number | null;
}

/** `number` is a fixed cost per request; `graphql` computes it from the query. */
export type RuleCost = { readonly kind: 'fixed'; readonly units: number } | { readonly kind: 'graphql'; readonly graphql: GraphqlCost };

/**
 * Where a rule's counters live. `shared`: in the policy's store (Redis when configured), exact across
 * sidecars. `local`: always in this sidecar's memory. `global-leased`: each sidecar leases slices of the
 * budget from Redis and decides locally (token-bucket and sliding-window-counter only).
 */
export type RuleScope = 'shared' | 'local' | 'global-leased';

export interface Rule {
  readonly id: string;
  /** Position in the file, for messages. */
  readonly index: number;
  readonly match: RuleMatch;
  readonly key: readonly KeyPart[];
  readonly algorithm: Algorithm;
  /**
   * Window algorithms: requests (cost units) per window. Token and leaky bucket: units per `windowMs`
   * (the refill / leak rate). Concurrency: requests in flight.
   */
  readonly limit: number;
  /** Window length, or the rate's period for buckets; for concurrency the lease timeout. */
  readonly windowMs: number;
  /** Bucket capacity (token-bucket, leaky-bucket); equals `limit` for the other algorithms. */
  readonly burst: number;
  /** `reject` answers 429; `queue` (leaky-bucket only) delays up to `maxDelayMs`. */
  readonly mode: 'reject' | 'queue';
  readonly maxDelayMs: number;
  readonly cost: RuleCost;
  /** Count and report, never reject. */
  readonly shadow: boolean;
  /** Whether a rejected request still consumes budget (default false). */
  readonly countRejected: boolean;
  /** Whether tier multipliers apply to this rule (default true). */
  readonly applyTiers: boolean;
  readonly scope: RuleScope;
  /** For `global-leased`: bound on over-admission as a fraction of the limit. */
  readonly maxOverAdmission: number;
}

export interface JwtIdentity {
  readonly header: string;
  /** Header value prefix stripped before verification (`Bearer `), case-insensitive. */
  readonly scheme: string | null;
  readonly algorithms: readonly string[];
  readonly secretEnv: string | null;
  readonly publicKeyFile: string | null;
  readonly jwksFile: string | null;
  readonly claim: string;
  /** Claim naming the caller's tier (only ever from a verified token). */
  readonly tierClaim: string | null;
  readonly issuer: string | null;
  readonly audience: string | null;
  readonly clockToleranceMs: number;
  /** Refuse a token without `exp` (default true: such a token never expires, a stolen one is good for ever). */
  readonly requireExp: boolean;
  /** Answer 401 to a request whose token is present but invalid (default: treat as anonymous). */
  readonly rejectInvalid: boolean;
}

export interface Identity {
  /** CIDRs whose X-Forwarded-For is believed. */
  readonly trustedProxies: readonly string[];
  readonly apiKey: { readonly header: string | null; readonly query: string | null } | null;
  readonly jwt: JwtIdentity | null;
  /** IPv6 clients are keyed by this prefix length. */
  readonly ipv6Prefix: number;
}

export interface Tier {
  readonly name: string;
  readonly multiplier: number;
  /** Higher is shed first under load; 0 is shed last. */
  readonly shedPriority: number;
}

export interface StoreConfig {
  readonly kind: 'memory' | 'redis';
  readonly failMode: 'open' | 'closed';
  /** Per-call timeout; past it the store counts as failed and failMode applies. */
  readonly timeoutMs: number;
  /** Expected sidecar replicas: fail-open local limits are the limit divided by this. */
  readonly replicas: number;
  readonly keyPrefix: string;
  /** Bound on keys held by the memory store (and by local fallback). */
  readonly maxKeys: number;
}

export interface EventsConfig {
  readonly topic: string | null;
  readonly bufferSize: number;
  readonly lingerMs: number;
  readonly batchSize: number;
  readonly compression: 'none' | 'gzip';
}

export type ActionKind = 'observe' | 'tighten' | 'block';

export interface ActionRule {
  readonly minScore: number;
  readonly action: ActionKind;
  readonly multiplier: number | null;
  readonly ttlMs: number;
  /** Only for reports where this detector fired (null: any). */
  readonly detector: string | null;
}

export interface LoadTargets {
  readonly p99Ms: number | null;
  readonly p50Ms: number | null;
  readonly errorRate: number | null;
}

export interface LoadConfig {
  readonly targets: LoadTargets;
  readonly minMultiplier: number;
  readonly strategy: 'aimd' | 'gradient';
  readonly intervalMs: number;
  /** The upstream's own Prometheus endpoint and gauges with their upper targets, optional. */
  readonly metricsUrl: string | null;
  readonly gauges: Readonly<Record<string, number>>;
}

export interface AnalyzerConfig {
  readonly allowlist: readonly string[];
  readonly requireApproval: boolean;
  readonly actions: readonly ActionRule[];
  readonly load: LoadConfig | null;
  /** Cool-down before the same client is acted on again. */
  readonly cooldownMs: number;
  /** How long anomaly reports are kept. */
  readonly retentionMs: number;
  /** Bound on clients with baselines (LRU). */
  readonly maxClients: number;
}

export interface AdaptiveConcurrency {
  readonly strategy: 'gradient2' | 'vegas' | 'aimd';
  readonly minLimit: number;
  readonly maxLimit: number;
  readonly initialLimit: number;
}

export interface UpstreamConfig {
  readonly timeoutMs: number;
  readonly connections: number;
  readonly adaptiveConcurrency: AdaptiveConcurrency | null;
}

export interface Policy {
  readonly version: 1;
  readonly identity: Identity;
  /** Static tier assignment by client key in its wire form (`apiKey:<hash>`, `user:alice`, `ip:10.0.0.1`). */
  readonly clients: Readonly<Record<string, { readonly tier: string }>>;
  readonly tiers: Readonly<Record<string, Tier>>;
  readonly defaultTier: string;
  readonly store: StoreConfig;
  readonly headers: readonly HeaderStyle[];
  readonly rules: readonly Rule[];
  readonly events: EventsConfig;
  readonly upstream: UpstreamConfig;
  readonly analyzer: AnalyzerConfig;
}

export interface PolicyError {
  readonly code: string;
  /** `rules[2].window`, `clients["apiKey:x"].tier`, or `` for the document. */
  readonly path: string;
  readonly message: string;
  /** 1-based line in the file, when known. */
  readonly line?: number;
}
