import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import picomatch from 'picomatch';
import { ErrorCodes } from '../errors.js';
import { parseDuration, parseRate } from '../duration.js';
import { ALGORITHMS, HEADER_STYLES, HTTP_METHODS } from './types.js';

/**
 * The shape of a policy file, section by section: types, required keys, enumerations, ranges,
 * value syntax (durations, rates, CIDRs, globs, key parts) and no unknown keys (strict objects
 * everywhere: a typo must never silently disable a limit). Sections are validated separately
 * (parse.ts) so that every error in a file is reported at once; cross-field rules (algorithm
 * parameters, duplicate ids, tier references) are checked in normalize.ts.
 */

function fail(ctx: z.RefinementCtx, code: string, message: string): void {
  ctx.addIssue({ code: 'custom', message, params: { code } });
}

/**
 * Bounds on numbers, so that what the sidecar computes from them stays an exact, finite number that
 * fits its answers (a 15-digit structured-field integer, a valid Date): a `window: 99999999999999999999d`
 * or a `ttl: 200000000d` (a block `until` no Date can format) is refused here rather than produced there.
 */
export const POLICY_BOUNDS = {
  /** Every duration and rate period: 365 days. */
  maxDurationMs: 365 * 86_400_000,
  /** Durations run as a Node timer (timerDuration): under its 2^31 − 1 ms limit. */
  maxTimerMs: 24 * 86_400_000,
  /** Limits and bursts (units per window or bucket capacity), and a rate's amount. */
  maxLimit: 1e12,
  /** Tier multipliers. */
  maxTierMultiplier: 1e6,
  /**
   * analyzer.load.minMultiplier: load multipliers are published rounded to 3 decimals (per tier),
   * so a smaller floor would round to a multiplier of 0 — a tier blocked by arithmetic.
   */
  minLoadMultiplier: 0.001,
  /** events.linger: an event waits at most this long for companions before its batch goes. */
  maxEventsLingerMs: 50,
  /**
   * events.bufferSize: 10 million events (≈ 3 GB); a ring of more than 2^32 − 1 slots cannot even be
   * made (the sidecar used to crash at start with `RangeError: Invalid array length`).
   */
  maxEventsBufferSize: 10_000_000,
} as const;
const MAX_DURATION_TEXT = '365d';

const duration = z.string({ error: 'must be a duration such as 60s' }).superRefine((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) fail(ctx, ErrorCodes.POLICY_DURATION, 'is not a duration (use ms, s, m, h or d, e.g. 60s)');
  else if (ms > POLICY_BOUNDS.maxDurationMs) fail(ctx, ErrorCodes.POLICY_RANGE, `must be at most ${MAX_DURATION_TEXT}`);
});
const positiveDuration = duration.superRefine((text, ctx) => {
  const ms = parseDuration(text);
  if (ms !== null && ms <= 0) fail(ctx, ErrorCodes.POLICY_RANGE, 'must be longer than 0');
});
/**
 * A duration the programs run a timer for (a queue delay, a store or upstream timeout, the load
 * loop's interval): Node's timers hold at most 2^31 − 1 ms (24.8 d) and fire a longer one after
 * 1 ms instead — a 30d load interval would judge every millisecond, a 30d upstream timeout time out
 * every request at once. So at most 24d.
 */
const timerDuration = positiveDuration.superRefine((text, ctx) => {
  const ms = parseDuration(text);
  if (ms !== null && ms > POLICY_BOUNDS.maxTimerMs) fail(ctx, ErrorCodes.POLICY_RANGE, 'must be at most 24d (it is a timer)');
});
const rate = z.string({ error: 'must be a rate such as 100/s' }).superRefine((text, ctx) => {
  const parsed = parseRate(text);
  if (parsed === null) fail(ctx, ErrorCodes.POLICY_RATE, 'is not a rate (use N/s, N/m, N/h, N/d or N/<duration>, e.g. 100/s)');
  else if (parsed.amount <= 0) fail(ctx, ErrorCodes.POLICY_RANGE, 'must admit more than 0');
  else if (parsed.amount > POLICY_BOUNDS.maxLimit) fail(ctx, ErrorCodes.POLICY_RANGE, `must admit at most ${POLICY_BOUNDS.maxLimit} per period`);
  // the period rounds to whole ms like any duration: under 1 ms it would be a 0 ms window
  else if (parsed.periodMs < 1) fail(ctx, ErrorCodes.POLICY_RANGE, 'must have a period of at least 1ms');
  else if (parsed.periodMs > POLICY_BOUNDS.maxDurationMs) fail(ctx, ErrorCodes.POLICY_RANGE, `must have a period of at most ${MAX_DURATION_TEXT}`);
});
const positiveInt = z.number().int().positive();
const fraction = z.number().min(0).max(1);

function stringOrList(item: z.ZodType<string>) {
  return z.union([item, z.array(item).min(1)], { error: 'must be a string or a non-empty list of strings' });
}

const method = z.string().superRefine((m, ctx) => {
  if (!(HTTP_METHODS as readonly string[]).includes(m.toUpperCase())) {
    fail(ctx, ErrorCodes.POLICY_METHOD, `is not an HTTP method (${HTTP_METHODS.join(', ')})`);
  }
});

function isValidGlob(glob: string): boolean {
  try {
    picomatch.makeRe(glob);
    return true;
  } catch {
    return false;
  }
}
const pathGlob = z.string().superRefine((glob, ctx) => {
  if (!glob.startsWith('/')) fail(ctx, ErrorCodes.POLICY_GLOB, 'must start with / (a path glob such as /api/**)');
  else if (!isValidGlob(glob)) fail(ctx, ErrorCodes.POLICY_GLOB, 'is not a valid glob');
});
const hostGlob = z.string().superRefine((glob, ctx) => {
  if (!/^[A-Za-z0-9.*?_-]+$/.test(glob) || !isValidGlob(glob)) fail(ctx, ErrorCodes.POLICY_GLOB, 'is not a valid host glob');
});

export const KEY_PARTS = ['global', 'ip', 'apiKey', 'user', 'route'] as const;
const HEADER_NAME = /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const keyPart = z.string().superRefine((part, ctx) => {
  if ((KEY_PARTS as readonly string[]).includes(part) || HEADER_NAME.test(part)) return;
  fail(ctx, ErrorCodes.POLICY_KEY_PART, `is not a key part (${KEY_PARTS.join(', ')}, header:<name>)`);
});

export function isCidr(text: string): boolean {
  try {
    if (text.includes('/')) ipaddr.parseCIDR(text);
    else ipaddr.parse(text);
    return true;
  } catch {
    return false;
  }
}
const cidr = z.string().superRefine((text, ctx) => {
  if (!isCidr(text)) fail(ctx, ErrorCodes.POLICY_CIDR, 'is not an IP address or CIDR (e.g. 10.0.0.0/8)');
});

const graphqlCost = z.strictObject({
  maxDepth: positiveInt,
  fieldCost: z.number().min(0).optional(),
  listFactor: z.number().positive().optional(),
  maxCost: z.number().positive().optional(),
});

export const ruleSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1–64 characters of A-Z a-z 0-9 . _ -' }),
  match: z
    .strictObject({
      method: stringOrList(method).optional(),
      path: stringOrList(pathGlob).optional(),
      host: stringOrList(hostGlob).optional(),
    })
    .optional(),
  key: stringOrList(keyPart),
  algorithm: z.enum(ALGORITHMS),
  limit: z.number().positive().max(POLICY_BOUNDS.maxLimit).optional(),
  window: positiveDuration.optional(),
  rate: rate.optional(),
  burst: z.number().positive().max(POLICY_BOUNDS.maxLimit).optional(),
  mode: z.enum(['reject', 'queue']).optional(),
  maxDelay: timerDuration.optional(),
  timeout: timerDuration.optional(),
  cost: z
    .union([z.number().positive(), z.strictObject({ graphql: graphqlCost })], {
      error: 'must be a positive number or { graphql: { maxDepth, fieldCost, listFactor, maxCost } }',
    })
    .optional(),
  shadow: z.boolean().optional(),
  countRejected: z.boolean().optional(),
  tiers: z.boolean().optional(),
  scope: z.enum(['shared', 'local', 'global-leased']).optional(),
  maxOverAdmission: z.number().positive().max(0.5).optional(),
});

export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
] as const;

const jwtSchema = z.strictObject({
  header: z.string().min(1).optional(),
  scheme: z.string().optional(),
  algorithms: z.array(z.enum(JWT_ALGORITHMS, { error: `is not a supported JWT algorithm (${JWT_ALGORITHMS.join(', ')}; never none)` })).min(1),
  secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' }).optional(),
  publicKeyFile: z.string().min(1).optional(),
  jwksFile: z.string().min(1).optional(),
  claim: z.string().min(1).optional(),
  tierClaim: z.string().min(1).optional(),
  issuer: z.string().min(1).optional(),
  audience: z.string().min(1).optional(),
  clockTolerance: duration.optional(),
  requireExp: z.boolean().optional(),
  rejectInvalid: z.boolean().optional(),
});

export const identitySchema = z.strictObject({
  trustedProxies: z.array(cidr).optional(),
  apiKey: z
    .strictObject({ header: z.string().min(1).optional(), query: z.string().min(1).optional() })
    .optional(),
  jwt: jwtSchema.optional(),
  ipv6Prefix: z.number().int().min(8).max(128).optional(),
});

/**
 * A mapping of names that refuses a `__proto__` key: YAML gives it as an own key, but zod's record
 * skips it without an issue, so `tiers: { __proto__: … }` vanished silently. Checked on the input.
 */
function namedRecord<V extends z.ZodType>(key: z.ZodType<string>, value: V, code: string) {
  return z
    .unknown()
    .superRefine((input, ctx) => {
      if (input !== null && typeof input === 'object' && Object.hasOwn(input, '__proto__')) {
        ctx.addIssue({ code: 'custom', message: 'is under the key "__proto__", which cannot be used as a name', path: ['__proto__'], params: { code } });
      }
    })
    .pipe(z.record(key, value));
}

export const tiersSchema = namedRecord(
  z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, { error: 'must be 1–32 characters of A-Z a-z 0-9 _ -' }),
  z
    .strictObject({
      multiplier: z.number().positive().max(POLICY_BOUNDS.maxTierMultiplier).optional(),
      shedPriority: z.number().int().min(0).max(100).optional(),
    })
    .nullable(),
  ErrorCodes.POLICY_TYPE,
);

export const clientsSchema = namedRecord(z.string(), z.strictObject({ tier: z.string().min(1) }), ErrorCodes.POLICY_CLIENT_KEY);

export const storeSchema = z.strictObject({
  kind: z.enum(['memory', 'redis']).optional(),
  failMode: z.enum(['open', 'closed']).optional(),
  timeout: timerDuration.optional(),
  replicas: positiveInt.optional(),
  keyPrefix: z.string().regex(/^[A-Za-z0-9:_-]{1,32}$/, { error: 'must be 1–32 characters of A-Z a-z 0-9 : _ -' }).optional(),
  maxKeys: positiveInt.optional(),
});

export const headersSchema = z.array(z.enum(HEADER_STYLES));

export const eventsSchema = z.strictObject({
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, { error: 'is not a valid Kafka topic name' }).optional(),
  bufferSize: positiveInt.max(POLICY_BOUNDS.maxEventsBufferSize).optional(),
  linger: duration
    .superRefine((text, ctx) => {
      const ms = parseDuration(text);
      if (ms !== null && ms > POLICY_BOUNDS.maxEventsLingerMs) fail(ctx, ErrorCodes.POLICY_RANGE, `must be at most ${POLICY_BOUNDS.maxEventsLingerMs}ms`);
    })
    .optional(),
  batchSize: positiveInt.optional(),
  compression: z.enum(['none', 'gzip']).optional(),
});

export const upstreamSchema = z.strictObject({
  timeout: timerDuration.optional(),
  connections: positiveInt.optional(),
  adaptiveConcurrency: z
    .strictObject({
      strategy: z.enum(['gradient2', 'vegas', 'aimd']).optional(),
      minLimit: positiveInt.optional(),
      maxLimit: positiveInt.optional(),
      initialLimit: positiveInt.optional(),
    })
    .optional(),
});

const actionSchema = z.strictObject({
  minScore: fraction,
  action: z.enum(['observe', 'tighten', 'block']),
  multiplier: z.number().positive().max(1).optional(),
  ttl: positiveDuration.optional(),
  detector: z.string().min(1).optional(),
});

const GAUGE_LABEL = String.raw`[a-zA-Z_][a-zA-Z0-9_]*\s*=\s*"(?:[^"\\]|\\.)*"`;
const GAUGE_SELECTOR = new RegExp(String.raw`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{\s*(` + GAUGE_LABEL + String.raw`\s*(,\s*` + GAUGE_LABEL + String.raw`\s*)*,?\s*)?\})?$`);

const loadSchema = z.strictObject({
  targets: z.strictObject({
    p99: positiveDuration.optional(),
    p50: positiveDuration.optional(),
    errorRate: fraction.optional(),
  }),
  minMultiplier: z
    .number()
    .max(1)
    .superRefine((m, ctx) => {
      if (!(m >= POLICY_BOUNDS.minLoadMultiplier)) {
        fail(ctx, ErrorCodes.POLICY_RANGE, `must be at least ${POLICY_BOUNDS.minLoadMultiplier} (load multipliers are published to 3 decimals: a smaller one would round to 0 and block the tier)`);
      }
    })
    .optional(),
  strategy: z.enum(['aimd', 'gradient']).optional(),
  interval: timerDuration.optional(),
  // scraped with an HTTP GET: only http(s) (a file: or data: URL names nothing to scrape)
  metricsUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  // keys: a metric name or `name{label="value",…}` selector of the upstream's Prometheus text format
  // upper targets: a negative one is exceeded by any gauge that counts something (always tightening)
  gauges: namedRecord(z.string().regex(GAUGE_SELECTOR, { error: 'must be a metric name or a selector like queue_depth{pool="a"}' }), z.number().min(0), ErrorCodes.POLICY_TYPE).optional(),
});

export const analyzerSchema = z.strictObject({
  allowlist: z.array(z.string().min(1)).optional(),
  requireApproval: z.boolean().optional(),
  actions: z.array(actionSchema).optional(),
  load: loadSchema.optional(),
  cooldown: duration.optional(),
  retention: positiveDuration.optional(),
  maxClients: positiveInt.optional(),
});

/** Top level: sections are validated by their own schemas above. */
export const topLevelSchema = z.strictObject({
  version: z.literal(1, { error: 'only version 1 is supported' }),
  identity: z.unknown().optional(),
  clients: z.unknown().optional(),
  tiers: z.unknown().optional(),
  defaultTier: z.string().min(1).optional(),
  store: z.unknown().optional(),
  headers: z.unknown().optional(),
  rules: z.array(z.unknown(), { error: 'must be a list of rules' }),
  events: z.unknown().optional(),
  upstream: z.unknown().optional(),
  analyzer: z.unknown().optional(),
});

export const SECTION_SCHEMAS = {
  identity: identitySchema,
  clients: clientsSchema,
  tiers: tiersSchema,
  store: storeSchema,
  headers: headersSchema,
  events: eventsSchema,
  upstream: upstreamSchema,
  analyzer: analyzerSchema,
} as const;

export type RawRule = z.infer<typeof ruleSchema>;
export type RawIdentity = z.infer<typeof identitySchema>;
export type RawTiers = z.infer<typeof tiersSchema>;
export type RawClients = z.infer<typeof clientsSchema>;
export type RawStore = z.infer<typeof storeSchema>;
export type RawEvents = z.infer<typeof eventsSchema>;
export type RawUpstream = z.infer<typeof upstreamSchema>;
export type RawAnalyzer = z.infer<typeof analyzerSchema>;
