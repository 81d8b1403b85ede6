import { ErrorCodes } from '../errors.js';
import { parseDuration, parseRate } from '../duration.js';
import { apiKeyAsRead, isSecretId, secretHasher, type SecretHasher } from '../clientKey.js';
import { canonicalClientIp } from '../ipKey.js';
import type {
  ActionRule,
  AnalyzerConfig,
  EventsConfig,
  HeaderStyle,
  Identity,
  KeyPart,
  Policy,
  Rule,
  StoreConfig,
  Tier,
  UpstreamConfig,
} from './types.js';
import type {
  RawAnalyzer,
  RawClients,
  RawEvents,
  RawIdentity,
  RawRule,
  RawStore,
  RawTiers,
  RawUpstream,
} from './schema.js';

/** Bound on identity.jwt.clockTolerance. */
const MAX_JWT_CLOCK_TOLERANCE_MS = 5 * 60_000;

/**
 * Cross-field checks and defaults: turns schema-valid sections into the immutable Policy.
 * Each section arrives already shape-checked, or `undefined` when absent, or `INVALID` when its
 * shape was wrong (those errors are already reported; checks that need it are skipped).
 */
export const INVALID = Symbol('invalid section');
type Section<T> = T | undefined | typeof INVALID;

export type Path = ReadonlyArray<string | number>;
export interface Issue {
  code: string;
  path: Path;
  message: string;
}

export interface Sections {
  identity: Section<RawIdentity>;
  clients: Section<RawClients>;
  tiers: Section<RawTiers>;
  defaultTier: string | undefined;
  store: Section<RawStore>;
  headers: Section<HeaderStyle[]>;
  events: Section<RawEvents>;
  upstream: Section<RawUpstream>;
  analyzer: Section<RawAnalyzer>;
  /** One entry per rule in file order; INVALID where that rule's shape was wrong. */
  rules: Array<RawRule | typeof INVALID>;
  /** The `id` of every rule that has a string id, valid or not (duplicates are reported for all). */
  ruleIds: Array<string | undefined>;
}

export interface NormalizeOptions {
  /** RW_HASH_KEY used to turn raw API keys in `clients`/`allowlist` into their wire ids. */
  hashKey?: string | undefined;
}

const WINDOW_ALGORITHMS = new Set(['fixed-window', 'sliding-window-log', 'sliding-window-counter']);
const BUCKET_ALGORITHMS = new Set(['token-bucket', 'leaky-bucket']);
const LEASABLE_ALGORITHMS = new Set(['token-bucket', 'sliding-window-counter']);
const CLIENT_KEY_PARTS = new Set(['apiKey', 'apiKeyId', 'user', 'ip']);

const DEFAULT_TTL_MS = 10 * 60_000;
const DEFAULT_IPV6_PREFIX = 64;

export function normalize(
  sections: Sections,
  opts: NormalizeOptions,
  issues: Issue[],
  warnings: string[],
): Policy | null {
  const issuesBefore = issues.length;
  const hash = secretHasher(opts.hashKey);
  const report = (code: string, path: Path, message: string): void => {
    issues.push({ code, path, message });
  };

  const identity = normalizeIdentity(sections.identity, report);
  // the IPv6 network an `ip:` client key stands for; the default when identity is invalid (already an error)
  const ipv6Prefix = identity?.ipv6Prefix ?? DEFAULT_IPV6_PREFIX;
  const tiers = normalizeTiers(sections.tiers);
  // own keys only: `in` also found Object.prototype's names (defaultTier: toString passed)
  const defaultTier = sections.defaultTier ?? (Object.hasOwn(tiers, 'free') ? 'free' : Object.keys(tiers)[0] ?? 'free');
  if (sections.tiers !== INVALID && !Object.hasOwn(tiers, defaultTier)) {
    report(ErrorCodes.POLICY_UNKNOWN_TIER, ['defaultTier'], `"${defaultTier}" is not a tier defined under tiers (${Object.keys(tiers).join(', ')})`);
  }
  const clients = normalizeClients(sections.clients, sections.tiers === INVALID ? null : tiers, hash, ipv6Prefix, report);
  const ids = new Map<string, number>();
  sections.ruleIds.forEach((id, index) => {
    if (id === undefined) return;
    const earlier = ids.get(id);
    if (earlier !== undefined) report(ErrorCodes.POLICY_DUPLICATE_ID, ['rules', index, 'id'], `"${id}" is already the id of rules[${earlier}]`);
    else ids.set(id, index);
  });
  const rules = normalizeRules(sections.rules, sections.identity === INVALID ? null : identity, report, warnings);
  const analyzer = normalizeAnalyzer(sections.analyzer, hash, ipv6Prefix, report, warnings);

  if (issues.length > issuesBefore || sections.identity === INVALID || sections.store === INVALID) return null;
  if (sections.headers === INVALID || sections.events === INVALID || sections.upstream === INVALID) return null;
  if (sections.tiers === INVALID || sections.clients === INVALID || sections.analyzer === INVALID) return null;
  if (sections.rules.some((r) => r === INVALID) || identity === null || rules === null || analyzer === null) return null;

  const upstream = normalizeUpstream(sections.upstream, report);
  if (upstream === null) return null;

  return deepFreeze({
    version: 1 as const,
    identity,
    clients,
    tiers,
    defaultTier,
    store: normalizeStore(sections.store),
    headers: sections.headers === undefined ? (['x-ratelimit', 'ietf'] as HeaderStyle[]) : dedupe(sections.headers),
    rules,
    events: normalizeEvents(sections.events),
    upstream,
    analyzer,
  });
}

type Report = (code: string, path: Path, message: string) => void;

function normalizeIdentity(raw: Section<RawIdentity>, report: Report): Identity | null {
  if (raw === INVALID) return null;
  const r = raw ?? {};
  let jwt: Identity['jwt'] = null;
  if (r.jwt) {
    const j = r.jwt;
    const hmac = j.algorithms.filter((a) => a.startsWith('HS'));
    const asymmetric = j.algorithms.filter((a) => !a.startsWith('HS'));
    const path = ['identity', 'jwt'];
    if (hmac.length > 0 && asymmetric.length > 0) {
      report(ErrorCodes.POLICY_JWT, [...path, 'algorithms'], `mixes HMAC (${hmac.join(', ')}) and public-key (${asymmetric.join(', ')}) algorithms; that invites algorithm-confusion attacks`);
    }
    if (hmac.length > 0 && !j.secretEnv) report(ErrorCodes.POLICY_JWT, [...path, 'secretEnv'], `is required for ${hmac.join(', ')} (the environment variable holding the shared secret)`);
    if (hmac.length === 0 && j.secretEnv) report(ErrorCodes.POLICY_JWT, [...path, 'secretEnv'], 'is only used by HS256/HS384/HS512, which algorithms does not list');
    if (asymmetric.length > 0 && !j.publicKeyFile && !j.jwksFile) {
      report(ErrorCodes.POLICY_JWT, path, `needs publicKeyFile or jwksFile for ${asymmetric.join(', ')}`);
    }
    if (j.publicKeyFile && j.jwksFile) report(ErrorCodes.POLICY_JWT, [...path, 'jwksFile'], 'give publicKeyFile or jwksFile, not both');
    const toleranceMs = j.clockTolerance ? parseDuration(j.clockTolerance)! : 5_000;
    if (toleranceMs > MAX_JWT_CLOCK_TOLERANCE_MS) report(ErrorCodes.POLICY_JWT, [...path, 'clockTolerance'], `must be at most 5m (clocks that far apart need fixing; a larger tolerance keeps expired tokens valid)`);
    const header = (j.header ?? 'authorization').toLowerCase();
    jwt = {
      header,
      scheme: j.scheme !== undefined ? (j.scheme === '' ? null : j.scheme) : header === 'authorization' ? 'Bearer' : null,
      algorithms: j.algorithms,
      secretEnv: j.secretEnv ?? null,
      publicKeyFile: j.publicKeyFile ?? null,
      jwksFile: j.jwksFile ?? null,
      claim: j.claim ?? 'sub',
      tierClaim: j.tierClaim ?? null,
      issuer: j.issuer ?? null,
      audience: j.audience ?? null,
      clockToleranceMs: toleranceMs,
      requireExp: j.requireExp ?? true,
      rejectInvalid: j.rejectInvalid ?? false,
    };
  }
  let apiKey: Identity['apiKey'] = null;
  if (r.apiKey) {
    const header = r.apiKey.header ?? (r.apiKey.query ? null : 'x-api-key');
    apiKey = { header: header ? header.toLowerCase() : null, query: r.apiKey.query ?? null };
  }
  return { trustedProxies: r.trustedProxies ?? [], apiKey, jwt, ipv6Prefix: r.ipv6Prefix ?? DEFAULT_IPV6_PREFIX };
}

function normalizeTiers(raw: Section<RawTiers>): Record<string, Tier> {
  const entries = raw === INVALID || raw === undefined ? { free: null } : raw;
  // no prototype: a lookup by a client-supplied or claimed tier name never finds `constructor`
  const tiers: Record<string, Tier> = Object.create(null) as Record<string, Tier>;
  for (const [name, t] of Object.entries(entries)) {
    tiers[name] = {
      name,
      multiplier: t?.multiplier ?? 1,
      // free traffic is shed first unless the file says otherwise
      shedPriority: t?.shedPriority ?? (name === 'free' ? 2 : 1),
    };
  }
  return tiers;
}

/**
 * `apiKey:<raw>` is hashed here; `apiKeyId:<16 hex>` names an already-hashed key; `ip:<address>` is
 * put in the sidecar's key form (IPv6 as its `ipv6Prefix` network, models/ipKey.ts).
 */
export function normalizeClientKey(key: string, hash: SecretHasher, ipv6Prefix = DEFAULT_IPV6_PREFIX): string | string[] {
  const parts = key.split('|');
  const out: string[] = [];
  const problems: string[] = [];
  for (const piece of parts) {
    const colon = piece.indexOf(':');
    const name = colon > 0 ? piece.slice(0, colon) : '';
    const value = colon > 0 ? piece.slice(colon + 1) : '';
    if (!CLIENT_KEY_PARTS.has(name) || value.length === 0) {
      problems.push(`is not a client key (<part>:<value> with part apiKey, apiKeyId, user or ip, joined by |)`);
      continue;
    }
    if (name === 'apiKeyId') {
      if (!isSecretId(value)) problems.push(`apiKeyId must be the 16 lower-case hex digits printed by \`ratewarden key-id\``);
      out.push('apiKey:' + value);
    } else if (name === 'apiKey') {
      // as the sidecar reads a key from a request: trimmed, at most 512 characters (`"apiKey: k"` named a key no request carries)
      const read = apiKeyAsRead(value);
      if ('problem' in read) problems.push(read.problem);
      else out.push('apiKey:' + hash(read.key));
    }
    else if (name === 'ip') {
      const ip = canonicalClientIp(value, ipv6Prefix);
      if (ip.ok) out.push('ip:' + ip.key);
      else problems.push(ip.problem);
    } else out.push(name + ':' + value);
  }
  return problems.length > 0 ? problems : out.join('|');
}

function normalizeClients(
  raw: Section<RawClients>,
  tiers: Record<string, Tier> | null,
  hash: SecretHasher,
  ipv6Prefix: number,
  report: Report,
): Record<string, { tier: string }> {
  const clients: Record<string, { tier: string }> = Object.create(null) as Record<string, { tier: string }>;
  if (raw === INVALID || raw === undefined) return clients;
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(raw)) {
    const normalized = normalizeClientKey(key, hash, ipv6Prefix);
    if (Array.isArray(normalized)) {
      for (const problem of normalized) report(ErrorCodes.POLICY_CLIENT_KEY, ['clients', key], `${JSON.stringify(key)} ${problem}`);
      continue;
    }
    // a sidecar picks a tier by the request's API key, user or address, one at a time: an entry naming
    // several (`apiKey:…|ip:…`) would be accepted and never match
    if (normalized.includes('|')) {
      report(ErrorCodes.POLICY_CLIENT_KEY, ['clients', key], 'names several identities: a tier is assigned to one API key, user or address (apiKey, apiKeyId, user or ip)');
      continue;
    }
    const earlier = seen.get(normalized);
    if (earlier !== undefined) report(ErrorCodes.POLICY_CLIENT_KEY, ['clients', key], `names the same client as clients["${earlier}"]`);
    seen.set(normalized, key);
    if (tiers && !Object.hasOwn(tiers, value.tier)) {
      report(ErrorCodes.POLICY_UNKNOWN_TIER, ['clients', key, 'tier'], `"${value.tier}" is not a tier defined under tiers (${Object.keys(tiers).join(', ')})`);
    }
    clients[normalized] = { tier: value.tier };
  }
  return clients;
}

function normalizeRules(
  raws: Sections['rules'],
  identity: Identity | null,
  report: Report,
  warnings: string[],
): Rule[] | null {
  const rules: Rule[] = [];
  raws.forEach((raw, index) => {
    if (raw === INVALID) return;
    const rule = normalizeRule(raw, index, identity, report, warnings);
    if (rule) {
      rules.push(rule);
      if (rule.shadow) warnings.push(`rules[${index}] (${rule.id}) is a shadow rule: it counts and reports but never rejects`);
    }
  });
  return rules.length === raws.length ? rules : null;
}

function normalizeRule(raw: RawRule, index: number, identity: Identity | null, report: Report, warnings: string[]): Rule | null {
  const base: Path = ['rules', index];
  const at = (field: string): Path => [...base, field];
  const algo = raw.algorithm;
  let ok = true;
  const bad = (path: Path, message: string, code: string = ErrorCodes.POLICY_ALGORITHM_PARAM): void => {
    ok = false;
    report(code, path, message);
  };

  // key parts
  const partNames = typeof raw.key === 'string' ? [raw.key] : raw.key;
  const key: KeyPart[] = [];
  const seenParts = new Set<string>();
  partNames.forEach((name, i) => {
    const partPath = typeof raw.key === 'string' ? at('key') : [...at('key'), i];
    // header names are case-insensitive: header:X-Tenant and header:x-tenant are one part
    const canonical = name.startsWith('header:') ? name.toLowerCase() : name;
    if (seenParts.has(canonical)) bad(partPath, `"${name}" appears twice`, ErrorCodes.POLICY_KEY_PART);
    seenParts.add(canonical);
    if (name.startsWith('header:')) key.push({ kind: 'header', name: name.slice('header:'.length).toLowerCase() });
    else key.push({ kind: name as Exclude<KeyPart['kind'], 'header'> } as KeyPart);
    if (identity && name === 'apiKey' && !identity.apiKey) bad(partPath, '"apiKey" needs identity.apiKey (where the key is read from)', ErrorCodes.POLICY_KEY_PART);
    if (identity && name === 'user' && !identity.jwt) bad(partPath, '"user" needs identity.jwt (users come only from verified tokens)', ErrorCodes.POLICY_KEY_PART);
  });
  if (partNames.length > 1 && seenParts.has('global')) bad(at('key'), '"global" is one shared budget and cannot be combined with other parts', ErrorCodes.POLICY_KEY_PART);

  // limit and period
  let limit = raw.limit ?? 0;
  let windowMs = 0;
  const rate = raw.rate !== undefined ? parseRate(raw.rate) : null;
  if (algo === 'concurrency') {
    for (const field of ['rate', 'window', 'burst', 'cost', 'mode', 'maxDelay'] as const) {
      if (raw[field] !== undefined) bad(at(field), 'does not apply to concurrency (it takes limit: requests in flight, and timeout)');
    }
    if (raw.limit === undefined) bad(at('limit'), 'is required for concurrency (requests in flight)', ErrorCodes.POLICY_REQUIRED);
    windowMs = raw.timeout !== undefined ? parseDuration(raw.timeout)! : 60_000;
  } else {
    if (raw.timeout !== undefined) bad(at('timeout'), 'only applies to concurrency');
    if (raw.rate !== undefined && (raw.limit !== undefined || raw.window !== undefined)) {
      bad(at('rate'), 'give either rate, or limit with window, not both');
    } else if (rate) {
      limit = rate.amount;
      windowMs = rate.periodMs;
    } else if (raw.rate === undefined) {
      if (raw.limit === undefined || raw.window === undefined) {
        bad(base, `${algo} needs rate (e.g. rate: 100/s) or limit with window (e.g. limit: 100, window: 60s)`, ErrorCodes.POLICY_REQUIRED);
      } else windowMs = parseDuration(raw.window)!;
    }
  }
  if (WINDOW_ALGORITHMS.has(algo) || algo === 'concurrency') {
    if (limit > 0 && !Number.isInteger(limit)) bad(raw.rate !== undefined ? at('rate') : at('limit'), `${algo} counts whole requests: the limit must be an integer`, ErrorCodes.POLICY_RANGE);
    if (raw.burst !== undefined && algo !== 'concurrency') bad(at('burst'), 'only applies to token-bucket and leaky-bucket');
  }
  const burst = BUCKET_ALGORITHMS.has(algo) ? raw.burst ?? Math.max(1, Math.ceil(limit)) : limit;

  // mode
  const mode = raw.mode ?? 'reject';
  if (mode === 'queue' && algo !== 'leaky-bucket') bad(at('mode'), 'queue is only supported by leaky-bucket');
  if (raw.maxDelay !== undefined && mode !== 'queue') bad(at('maxDelay'), 'only applies with mode: queue');
  const maxDelayMs = raw.maxDelay !== undefined ? parseDuration(raw.maxDelay)! : mode === 'queue' ? 1_000 : 0;

  // scope
  const scope = raw.scope ?? 'shared';
  if (scope === 'global-leased' && !LEASABLE_ALGORITHMS.has(algo)) bad(at('scope'), 'global-leased is supported by token-bucket and sliding-window-counter');
  if (raw.maxOverAdmission !== undefined && scope !== 'global-leased') bad(at('maxOverAdmission'), 'only applies with scope: global-leased');

  // cost
  let cost: Rule['cost'] = { kind: 'fixed', units: 1 };
  if (typeof raw.cost === 'number') cost = { kind: 'fixed', units: raw.cost };
  else if (raw.cost) {
    const g = raw.cost.graphql;
    cost = { kind: 'graphql', graphql: { maxDepth: g.maxDepth, fieldCost: g.fieldCost ?? 1, listFactor: g.listFactor ?? 10, maxCost: g.maxCost ?? null } };
  }

  // capacity: a request costing more than the bucket holds (or the window admits) can never pass —
  // every attempt was refused with Retry-After 1, forever. The leaky bucket's queue mode also admits
  // what conforms within maxDelay: its own bound is cost ≤ burst + maxDelay / T (T = windowMs / limit).
  if (ok && algo !== 'concurrency' && limit > 0 && windowMs > 0) {
    const what = WINDOW_ALGORITHMS.has(algo) ? 'the limit' : mode === 'queue' ? 'burst plus what maxDelay queues' : 'burst';
    const capacity = WINDOW_ALGORITHMS.has(algo) ? limit : burst + (mode === 'queue' ? (maxDelayMs * limit) / windowMs : 0);
    const shown = Number(capacity.toPrecision(12));
    // a GraphQL request costs at least 1 unit (a request without a query: exactly 1)
    const least = cost.kind === 'fixed' ? cost.units : 1;
    if (least > capacity && raw.cost !== undefined && cost.kind === 'fixed') {
      bad(at('cost'), `${cost.units} is more than ${what} (${shown}): every request would be refused; lower cost or raise ${WINDOW_ALGORITHMS.has(algo) ? 'limit' : 'burst'}`, ErrorCodes.POLICY_RANGE);
    } else if (least > capacity) {
      bad(at('burst'), `${burst} holds less than one request (cost ${least}): every request would be refused`, ErrorCodes.POLICY_RANGE);
    } else if (cost.kind === 'graphql' && cost.graphql.maxCost !== null && cost.graphql.maxCost > capacity) {
      warnings.push(
        `rules[${index}] (${raw.id}): cost.graphql.maxCost ${cost.graphql.maxCost} is more than ${what} (${shown}): a query costing more than ${shown} passes maxCost but is refused (429) on every attempt`,
      );
    }
  }

  // match
  const m = raw.match ?? {};
  const list = (v: string | string[] | undefined): string[] | null => (v === undefined ? null : typeof v === 'string' ? [v] : v);
  const methods = list(m.method);

  if (!ok) return null;
  return {
    id: raw.id,
    index,
    match: { methods: methods ? methods.map((x) => x.toUpperCase()) : null, paths: list(m.path), hosts: list(m.host) },
    key,
    algorithm: algo,
    limit,
    windowMs,
    burst,
    mode,
    maxDelayMs,
    cost,
    shadow: raw.shadow ?? false,
    countRejected: raw.countRejected ?? false,
    applyTiers: raw.tiers ?? true,
    scope,
    maxOverAdmission: raw.maxOverAdmission ?? 0.01,
  };
}

function normalizeStore(raw: Section<RawStore>): StoreConfig {
  const r = raw === INVALID ? undefined : raw;
  return {
    kind: r?.kind ?? 'memory',
    failMode: r?.failMode ?? 'open',
    timeoutMs: r?.timeout ? parseDuration(r.timeout)! : 100,
    replicas: r?.replicas ?? 1,
    keyPrefix: r?.keyPrefix ?? 'rw',
    maxKeys: r?.maxKeys ?? 100_000,
  };
}

function normalizeEvents(raw: Section<RawEvents>): EventsConfig {
  const r = raw === INVALID ? undefined : raw;
  return {
    topic: r?.topic ?? null,
    bufferSize: r?.bufferSize ?? 100_000,
    lingerMs: r?.linger ? parseDuration(r.linger)! : 20,
    batchSize: r?.batchSize ?? 1_000,
    compression: r?.compression ?? 'gzip',
  };
}

function normalizeUpstream(raw: Section<RawUpstream>, report: Report): UpstreamConfig | null {
  const r = raw === INVALID ? undefined : raw;
  let adaptiveConcurrency: UpstreamConfig['adaptiveConcurrency'] = null;
  if (r?.adaptiveConcurrency) {
    const a = r.adaptiveConcurrency;
    const minLimit = a.minLimit ?? 4;
    const maxLimit = a.maxLimit ?? 1_000;
    const initialLimit = a.initialLimit ?? Math.min(maxLimit, Math.max(minLimit, 20));
    if (!(minLimit <= initialLimit && initialLimit <= maxLimit)) {
      report(ErrorCodes.POLICY_RANGE, ['upstream', 'adaptiveConcurrency'], `needs minLimit ≤ initialLimit ≤ maxLimit (got ${minLimit}, ${initialLimit}, ${maxLimit})`);
      return null;
    }
    adaptiveConcurrency = { strategy: a.strategy ?? 'gradient2', minLimit, maxLimit, initialLimit };
  }
  return {
    timeoutMs: r?.timeout ? parseDuration(r.timeout)! : 30_000,
    connections: r?.connections ?? 128,
    adaptiveConcurrency,
  };
}

function normalizeAnalyzer(raw: Section<RawAnalyzer>, hash: SecretHasher, ipv6Prefix: number, report: Report, warnings: string[]): AnalyzerConfig | null {
  if (raw === INVALID) return null;
  const r = raw ?? {};
  let ok = true;
  const allowlist: string[] = [];
  (r.allowlist ?? []).forEach((entry, i) => {
    const normalized = normalizeClientKey(entry, hash, ipv6Prefix);
    if (Array.isArray(normalized)) {
      ok = false;
      for (const problem of normalized) report(ErrorCodes.POLICY_CLIENT_KEY, ['analyzer', 'allowlist', i], `${JSON.stringify(entry)} ${problem}`);
    } else allowlist.push(normalized);
  });
  const actions: ActionRule[] = [];
  (r.actions ?? []).forEach((a, i) => {
    const path = ['analyzer', 'actions', i];
    if (a.action === 'tighten' && (a.multiplier === undefined || a.multiplier >= 1)) {
      ok = false;
      report(ErrorCodes.POLICY_ALGORITHM_PARAM, [...path, 'multiplier'], 'tighten needs a multiplier between 0 and 1 (e.g. 0.2: a fifth of the limit)');
    }
    if (a.action !== 'tighten' && a.multiplier !== undefined) {
      ok = false;
      report(ErrorCodes.POLICY_ALGORITHM_PARAM, [...path, 'multiplier'], `does not apply to ${a.action}`);
    }
    const shadowedBy = actions.findIndex((prev) => prev.minScore <= a.minScore && (prev.detector === null || prev.detector === (a.detector ?? null)));
    if (shadowedBy >= 0) warnings.push(`analyzer.actions[${i}] is never used: analyzer.actions[${shadowedBy}] matches first (first match wins)`);
    actions.push({
      minScore: a.minScore,
      action: a.action,
      multiplier: a.multiplier ?? null,
      ttlMs: a.ttl ? parseDuration(a.ttl)! : DEFAULT_TTL_MS,
      detector: a.detector ?? null,
    });
  });
  let load: AnalyzerConfig['load'] = null;
  if (r.load) {
    const t = r.load.targets;
    const gauges = Object.keys(r.load.gauges ?? {}).length;
    // a load section without anything to judge by never acts (its pressure is always null)
    if (t.p99 === undefined && t.p50 === undefined && t.errorRate === undefined && !(r.load.metricsUrl && gauges > 0)) {
      ok = false;
      report(
        ErrorCodes.POLICY_REQUIRED,
        ['analyzer', 'load', 'targets'],
        r.load.metricsUrl
          ? 'needs at least one of p99, p50, errorRate, or at least one entry in analyzer.load.gauges (metricsUrl alone gives nothing to judge by)'
          : 'needs at least one of p99, p50, errorRate (or metricsUrl with gauges)',
      );
    } else if (gauges > 0 && !r.load.metricsUrl) warnings.push('analyzer.load.gauges are never read: they need analyzer.load.metricsUrl (where they are scraped from)');
    load = {
      targets: {
        p99Ms: t.p99 ? parseDuration(t.p99)! : null,
        p50Ms: t.p50 ? parseDuration(t.p50)! : null,
        errorRate: t.errorRate ?? null,
      },
      minMultiplier: r.load.minMultiplier ?? 0.2,
      strategy: r.load.strategy ?? 'aimd',
      intervalMs: r.load.interval ? parseDuration(r.load.interval)! : 1_000,
      metricsUrl: r.load.metricsUrl ?? null,
      gauges: r.load.gauges ?? {},
    };
  }
  if (!ok) return null;
  return {
    allowlist,
    requireApproval: r.requireApproval ?? false,
    actions,
    load,
    cooldownMs: r.cooldown ? parseDuration(r.cooldown)! : 5 * 60_000,
    retentionMs: r.retention ? parseDuration(r.retention)! : 7 * 86_400_000,
    maxClients: r.maxClients ?? 100_000,
  };
}

function dedupe<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
