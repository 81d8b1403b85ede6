import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import type { Algorithm, GraphqlCost, KeyPart, Policy, Rule, RuleScope } from '../../models/policy/index.js';
import { ALGORITHM_IMPLS, type LocalAlgorithm } from './algorithms/index.js';
import type { RequestFacts } from './types.js';

/**
 * A policy rule prepared for the request path: matchers compiled once (picomatch → RegExp), the key
 * built by a specialised function, store key prefixes precomputed.
 */
export interface CompiledRule {
  readonly rule: Rule;
  readonly id: string;
  readonly algorithm: Algorithm;
  readonly impl: LocalAlgorithm<unknown>;
  /** Algorithm code (Redis key suffix, Lua dispatch). */
  readonly code: string;
  readonly isConcurrency: boolean;
  readonly isBucket: boolean;
  readonly windowMs: number;
  readonly maxDelayMs: number;
  readonly queue: boolean;
  readonly shadow: boolean;
  readonly countRejected: boolean;
  readonly applyTiers: boolean;
  readonly scope: RuleScope;
  readonly maxOverAdmission: number;
  /** Fixed units per request, or null when the cost comes from the GraphQL query. */
  readonly fixedCost: number | null;
  readonly graphql: GraphqlCost | null;
  readonly matches: (method: string, path: string, host: string) => boolean;
  readonly keyOf: (facts: RequestFacts) => string;
  /** Memory store key prefix; the algorithm is part of it so a changed algorithm starts afresh. */
  readonly memoryPrefix: string;
  /** Redis key = redisKeyStart + key + redisKeyEnd: `{<prefix>:<rule>:<key>}:<code>` (one hash tag per rule and key). */
  readonly redisKeyStart: string;
  readonly redisKeyEnd: string;
  /** Lua flags: 1 shadow, 2 countRejected, 4 queue, 8 takes a token. */
  readonly luaFlags: number;
  /** Lua rule parameter: maxDelay of a leaky bucket in queue mode, else 0. */
  readonly luaExtra: number;
  /** Whether the algorithm needs a unique token per request (lease id, log member). */
  readonly needsToken: boolean;
}

export interface CompiledPolicy {
  readonly policy: Policy;
  readonly rules: readonly CompiledRule[];
  readonly tierMultipliers: ReadonlyMap<string, number>;
  /** Multiplier of the default tier, for a tier name the policy does not know. */
  readonly defaultTierMultiplier: number;
  readonly anyGraphql: boolean;
  /** Whether shared rules go to Redis (store.kind redis). */
  readonly redis: boolean;
  /**
   * The identities beyond apiKey/user/ip a block or override may name: `header:<name>:<value>` for
   * each header and `route:<path>` when some rule's key uses that part, in the form the rule keys it
   * (null when no rule does, the common case: requests pay nothing for it).
   */
  readonly keyIdentities: ((f: RequestFacts) => string[] | null) | null;
}

/**
 * Key values a client controls are kept only when short and plain (printable ASCII without `{`, `|`
 * and `}`, so they can neither split a key part nor move a Redis hash tag); others are hashed, which
 * also bounds the key length.
 */
const PLAIN_VALUE = /^[\x21-\x7a~]{1,128}$/;
export function safeKeyValue(value: string): string {
  if (PLAIN_VALUE.test(value)) return value;
  return '#' + createHash('sha256').update(value).digest('hex').slice(0, 16);
}

function partKey(part: KeyPart): (f: RequestFacts) => string {
  switch (part.kind) {
    case 'global':
      return () => 'global';
    case 'ip':
      return (f) => 'ip:' + f.ip;
    case 'apiKey':
      return (f) => (f.apiKeyId !== null ? 'apiKey:' + f.apiKeyId : 'ip:' + f.ip);
    case 'user':
      return (f) => (f.user !== null ? 'user:' + safeKeyValue(f.user) : 'ip:' + f.ip);
    case 'route':
      return (f) => 'route:' + safeKeyValue(f.path);
    case 'header': {
      const label = 'header:' + part.name + ':';
      const name = part.name;
      return (f) => {
        const v = f.header(name);
        return v !== undefined && v !== '' ? label + safeKeyValue(v) : 'ip:' + f.ip;
      };
    }
  }
}

function keyBuilder(parts: readonly KeyPart[]): (f: RequestFacts) => string {
  const fns = parts.map(partKey);
  if (fns.length === 1) return fns[0]!;
  if (fns.length === 2) {
    const [a, b] = fns as [(f: RequestFacts) => string, (f: RequestFacts) => string];
    return (f) => a(f) + '|' + b(f);
  }
  return (f) => {
    let k = fns[0]!(f);
    for (let i = 1; i < fns.length; i++) k += '|' + fns[i]!(f);
    return k;
  };
}

function regexes(globs: readonly string[] | null, opts: picomatch.PicomatchOptions): RegExp[] | null {
  return globs === null ? null : globs.map((g) => picomatch.makeRe(g, opts));
}

function matcher(rule: Rule): (method: string, path: string, host: string) => boolean {
  const methods = rule.match.methods ? new Set(rule.match.methods) : null;
  // servers answer HEAD with their GET handler (the same work, the body dropped): a GET rule is a HEAD rule too
  if (methods?.has('GET')) methods.add('HEAD');
  const paths = regexes(rule.match.paths, { dot: true });
  const hosts = regexes(rule.match.hosts, { dot: true, nocase: true });
  const anyOf = (res: RegExp[], s: string): boolean => {
    for (let i = 0; i < res.length; i++) if (res[i]!.test(s)) return true;
    return false;
  };
  if (methods === null && paths === null && hosts === null) return () => true;
  return (method, path, host) =>
    (methods === null || methods.has(method)) && (paths === null || anyOf(paths, path)) && (hosts === null || anyOf(hosts, host));
}

/** Key builders by key spec, so rules keyed alike share one builder (and the engine builds their key once). */
type KeyBuilders = Map<string, (f: RequestFacts) => string>;

function sharedKeyBuilder(parts: readonly KeyPart[], builders: KeyBuilders): (f: RequestFacts) => string {
  const spec = parts.map((p) => (p.kind === 'header' ? `header:${p.name}` : p.kind)).join('|');
  let fn = builders.get(spec);
  if (!fn) builders.set(spec, (fn = keyBuilder(parts)));
  return fn;
}

export function compileRule(rule: Rule, keyPrefix: string, builders: KeyBuilders = new Map()): CompiledRule {
  const impl = ALGORITHM_IMPLS[rule.algorithm];
  return {
    rule,
    id: rule.id,
    algorithm: rule.algorithm,
    impl,
    code: impl.code,
    isConcurrency: rule.algorithm === 'concurrency',
    isBucket: rule.algorithm === 'token-bucket' || rule.algorithm === 'leaky-bucket',
    windowMs: rule.windowMs,
    maxDelayMs: rule.mode === 'queue' ? rule.maxDelayMs : 0,
    queue: rule.mode === 'queue',
    shadow: rule.shadow,
    // a lease is only ever taken by a passing request (check.ts shouldConsume, the Lua driver): a
    // countRejected concurrency rule marked its leases uncommitted, so they were never released
    countRejected: rule.countRejected && rule.algorithm !== 'concurrency',
    applyTiers: rule.applyTiers,
    scope: rule.scope,
    maxOverAdmission: rule.maxOverAdmission,
    fixedCost: rule.algorithm === 'concurrency' ? 1 : rule.cost.kind === 'fixed' ? rule.cost.units : null,
    graphql: rule.cost.kind === 'graphql' ? rule.cost.graphql : null,
    matches: matcher(rule),
    keyOf: sharedKeyBuilder(rule.key, builders),
    memoryPrefix: `${rule.id}\u0000${impl.code}\u0000`,
    redisKeyStart: `{${keyPrefix}:${rule.id}:`,
    redisKeyEnd: `}:${impl.code}`,
    luaFlags:
      (rule.shadow ? 1 : 0) |
      (rule.countRejected && rule.algorithm !== 'concurrency' ? 2 : 0) |
      (rule.mode === 'queue' ? 4 : 0) |
      (rule.algorithm === 'concurrency' || rule.algorithm === 'sliding-window-log' ? 8 : 0),
    luaExtra: rule.algorithm === 'leaky-bucket' && rule.mode === 'queue' ? rule.maxDelayMs : 0,
    needsToken: rule.algorithm === 'concurrency' || rule.algorithm === 'sliding-window-log',
  };
}

export function compilePolicy(policy: Policy): CompiledPolicy {
  const builders: KeyBuilders = new Map();
  const rules = policy.rules.map((r) => compileRule(r, policy.store.keyPrefix, builders));
  const tierMultipliers = new Map(Object.values(policy.tiers).map((t) => [t.name, t.multiplier] as const));
  return {
    policy,
    rules,
    tierMultipliers,
    defaultTierMultiplier: policy.tiers[policy.defaultTier]?.multiplier ?? 1,
    anyGraphql: rules.some((r) => r.graphql !== null),
    redis: policy.store.kind === 'redis',
    keyIdentities: keyIdentities(policy.rules),
  };
}

/** The request's `header:`/`route:` identities (see CompiledPolicy.keyIdentities), or null. */
function keyIdentities(rules: readonly Rule[]): ((f: RequestFacts) => string[] | null) | null {
  const headers = new Set<string>();
  let route = false;
  for (const r of rules) {
    for (const part of r.key) {
      if (part.kind === 'header') headers.add(part.name);
      else if (part.kind === 'route') route = true;
    }
  }
  if (headers.size === 0 && !route) return null;
  const names = [...headers];
  return (f) => {
    let out: string[] | null = null;
    for (let i = 0; i < names.length; i++) {
      // as the rule keys it; no value is no identity (the rule falls back to the IP, already one)
      const v = f.header(names[i]!);
      if (v !== undefined && v !== '') (out ??= []).push('header:' + names[i] + ':' + safeKeyValue(v));
    }
    if (route) (out ??= []).push('route:' + safeKeyValue(f.path));
    return out;
  };
}
