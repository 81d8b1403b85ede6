/**
 * The normal clients of the simulated API. Each has a tier, an identity (API key or, for anonymous
 * callers, one IP), a small stable set of IPs, a user agent, a route mix, and a mean rate drawn from a
 * heavy-tailed (log-normal) distribution, modulated by a per-client diurnal and weekly pattern in
 * the client's local time and by autocorrelated minute-to-minute noise (sessions, batch jobs).
 */
import { apiKeyId } from '../models/clientKey.js';
import { IpAllocator, newApiKey, pickUserAgent, uaHash, type UserAgentFamily } from './identities.js';
import { Rng, WeightedTable, type Seed } from './random.js';
import type { RouteName } from './routes.js';

export const TIERS = ['free', 'pro', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];

export const CLIENT_KINDS = ['web', 'mobile', 'integration', 'analytics'] as const;
/** web: browser front-ends; mobile: an app's key used by its users; integration: server-to-server; analytics: report jobs in office hours. */
export type ClientKind = (typeof CLIENT_KINDS)[number];

export interface RatePattern {
  /** Offset of the client's local time from UTC, hours. */
  readonly tzOffsetHours: number;
  /** Local hour of the daily peak. */
  readonly peakHour: number;
  /**
   * Diurnal concentration κ ≥ 0: the day follows a von Mises curve exp(κ·cos(2π(h − peak)/24)) / I0(κ)
   * (mean 1): a daytime peak and a long quiet night; κ = 0 is flat, κ = 1 a peak/trough ratio of e².
   */
  readonly concentration: number;
  /** Weekend rate relative to a weekday (before normalisation to a weekly mean of 1). */
  readonly weekendFactor: number;
  /** Sigma of the log-rate AR(1) minute noise (0: a smooth Poisson process). */
  readonly noiseSigma: number;
}

export interface SimClient {
  readonly index: number;
  /** Stable human name (`c0042`), for reports and debugging. */
  readonly name: string;
  readonly kind: ClientKind;
  readonly tier: Tier;
  /** Raw key sent in `x-api-key`, or null for an anonymous (IP-keyed) client. */
  readonly apiKey: string | null;
  /** Its 16-hex id (models/clientKey.ts apiKeyId), or null. */
  readonly keyId: string | null;
  /** `apiKey:<id>`, or `ip:<ip>` for anonymous clients: the CallEvent `client`. */
  readonly clientKey: string;
  /** The client's addresses; the first is its main one (anonymous clients have exactly one). */
  readonly ips: readonly string[];
  readonly ipTable: WeightedTable<string>;
  readonly userAgent: string;
  readonly uaHash: string;
  /** End users who log in through this client (login bodies). */
  readonly users: readonly string[];
  /** Mean calls per minute averaged over a week. */
  readonly meanRatePerMin: number;
  readonly pattern: RatePattern;
  readonly routes: WeightedTable<RouteName>;
  /** Multiplies the client's stale-link / typo / bad-request probabilities (some integrations are buggy). */
  readonly errorPropensity: number;
  /** A device its owner starts using partway through the run (see LaterDevice), or none. */
  readonly laterDevice?: LaterDevice;
}

/**
 * An owner's new device: from `startFraction` of the simulated span on, `share` of the client's calls
 * come from it — a user agent the key never sent, from an address it never used (a new phone on a
 * mobile network, a laptop at home). It is the ordinary event the identity rules (key sharing,
 * compromised key) must not mistake for another party holding the key; one per client, and far more
 * often than in life (a third of the web and mobile keys within one run), to make that test bite.
 */
export interface LaterDevice {
  readonly userAgent: string;
  readonly uaHash: string;
  readonly ip: string;
  readonly startFraction: number;
  readonly share: number;
}

export interface PopulationOptions {
  readonly seed: Seed;
  /** Number of normal clients (default 500). */
  readonly clients?: number;
  /** Share of anonymous, IP-keyed clients (default 0.15). */
  readonly anonymousShare?: number;
  /** Tier mix of keyed clients (default free 0.65, pro 0.28, enterprise 0.07). */
  readonly tierMix?: Readonly<Record<Tier, number>>;
  /** Median calls per minute of a free-tier web client (default 1). */
  readonly medianRatePerMin?: number;
  /** Sigma of the log-normal rate distribution: the weight of the heavy tail (default 1.7). */
  readonly rateSigma?: number;
  /** Rate multiplier per tier (default free 1, pro 4, enterprise 12). */
  readonly tierRateMultiplier?: Readonly<Record<Tier, number>>;
  /** Scale every client so the population's weekly-mean total is this many calls per second. */
  readonly ratePerSec?: number;
  /** false: flat rates (no diurnal/weekly pattern, no noise), e.g. for live demos and benchmarks. */
  readonly patterns?: boolean;
  /** [UTC offset in hours, weight] of the clients' time zones (default: mostly the Americas and Europe). */
  readonly timeZones?: ReadonlyArray<readonly [number, number]>;
  /** RW_HASH_KEY the sidecar uses (default: process.env.RW_HASH_KEY), so key ids match its events. */
  readonly hashKey?: string;
  /** Share of keyed web and mobile clients whose owner adds a device during the run (default 1/3; LaterDevice). */
  readonly laterDeviceShare?: number;
}

export interface Population {
  readonly seed: Seed;
  readonly clients: readonly SimClient[];
  /** Shared by scenarios so every simulated caller has addresses nobody else uses. */
  readonly ips: IpAllocator;
  readonly hashKey: string | undefined;
  /** Sum of the clients' weekly-mean rates. */
  readonly meanRatePerSec: number;
  readonly patterns: boolean;
}

interface KindProfile {
  readonly share: number;
  readonly userAgents: UserAgentFamily;
  readonly rateMultiplier: number;
  readonly routes: Readonly<Partial<Record<RouteName, number>>>;
  readonly concentration: readonly [number, number];
  /** Local peak hour: mean and sd. */
  readonly peak: readonly [number, number];
  readonly weekend: readonly [number, number];
  readonly noiseSigma: number;
  /** Range of the number of IPs of a keyed client, and whether they sit in one /24. */
  readonly ips: readonly [number, number];
  readonly ipsClustered: boolean;
  readonly users: readonly [number, number];
}

const KINDS: Readonly<Record<ClientKind, KindProfile>> = {
  web: {
    share: 0.35,
    userAgents: 'browser',
    rateMultiplier: 1,
    routes: { 'items.get': 35, 'items.list': 15, search: 25, me: 8, login: 4, 'orders.create': 6, graphql: 5, 'reports.get': 2 },
    concentration: [0.6, 1.2],
    peak: [20, 1.5],
    weekend: [0.9, 1.3],
    noiseSigma: 0.5,
    ips: [1, 3],
    ipsClustered: true,
    users: [1, 5],
  },
  mobile: {
    share: 0.2,
    userAgents: 'mobile',
    rateMultiplier: 1.5,
    routes: { graphql: 45, me: 15, 'items.get': 20, search: 12, login: 5, 'orders.create': 3 },
    concentration: [0.6, 1.2],
    peak: [19, 2],
    weekend: [1, 1.3],
    noiseSigma: 0.5,
    // carrier NAT and roaming users: a handful of unrelated addresses is normal for an app key
    ips: [3, 10],
    ipsClustered: false,
    users: [5, 40],
  },
  integration: {
    share: 0.35,
    userAgents: 'server',
    rateMultiplier: 2,
    routes: { 'items.get': 30, 'items.list': 25, 'orders.create': 20, graphql: 15, search: 10 },
    // machines follow their customers' users, but with a flatter day
    concentration: [0.1, 0.6],
    peak: [13, 2],
    weekend: [0.3, 0.8],
    noiseSigma: 0.3,
    ips: [1, 2],
    ipsClustered: true,
    users: [0, 0],
  },
  analytics: {
    share: 0.1,
    userAgents: 'server',
    rateMultiplier: 0.7,
    routes: { 'reports.create': 15, 'reports.get': 35, 'items.list': 35, search: 15 },
    concentration: [1.0, 2.0],
    peak: [11, 1.5],
    weekend: [0.1, 0.4],
    noiseSigma: 0.4,
    ips: [1, 2],
    ipsClustered: true,
    users: [0, 0],
  },
};

/**
 * Time zones by weight: a service with most of its users in the Americas and Europe and some in
 * Asia-Pacific, so the total traffic keeps a clear daily shape (a perfectly global mix would flatten it).
 */
const DEFAULT_TIME_ZONES: ReadonlyArray<readonly [number, number]> = [
  [-8, 0.12], [-6, 0.1], [-5, 0.33],
  [0, 0.1], [1, 0.2], [2, 0.05],
  [5.5, 0.04], [8, 0.04], [9, 0.02],
];

const DEFAULT_TIER_MIX: Readonly<Record<Tier, number>> = { free: 0.65, pro: 0.28, enterprise: 0.07 };
const DEFAULT_TIER_RATE: Readonly<Record<Tier, number>> = { free: 1, pro: 4, enterprise: 12 };
/** No single normal client exceeds this (100/s): the tail is heavy, not unbounded. */
const MAX_RATE_PER_MIN = 6_000;

export function createPopulation(options: PopulationOptions): Population {
  const root = new Rng(options.seed).fork('population');
  const count = options.clients ?? 500;
  const anonymousShare = options.anonymousShare ?? 0.15;
  const tierTable = new WeightedTable(Object.entries(options.tierMix ?? DEFAULT_TIER_MIX) as Array<[Tier, number]>);
  const tierRate = options.tierRateMultiplier ?? DEFAULT_TIER_RATE;
  const kindTable = new WeightedTable(CLIENT_KINDS.map((k) => [k, KINDS[k].share] as const));
  const median = options.medianRatePerMin ?? 1;
  const sigma = options.rateSigma ?? 1.7;
  const patterns = options.patterns ?? true;
  const hashKey = options.hashKey ?? process.env.RW_HASH_KEY;
  const ips = new IpAllocator();
  const timeZones = new WeightedTable(options.timeZones ?? DEFAULT_TIME_ZONES);

  const drafts: Array<Omit<SimClient, 'meanRatePerMin'> & { rate: number }> = [];
  for (let index = 0; index < count; index++) {
    const rng = root.fork(`client/${index}`);
    const anonymous = rng.float() < anonymousShare;
    const kind: ClientKind = anonymous ? 'web' : kindTable.sample(rng);
    const profile = KINDS[kind];
    const tier: Tier = anonymous ? 'free' : tierTable.sample(rng);
    const apiKey = anonymous ? null : newApiKey(rng, tier);
    const keyId = apiKey === null ? null : apiKeyId(apiKey, hashKey);

    const network = kind === 'integration' || kind === 'analytics' ? 'hosting' : 'access';
    const main = ips.next(rng, network);
    const clientIps = [main];
    const ipCount = anonymous ? 1 : rng.intBetween(profile.ips[0], profile.ips[1]);
    while (clientIps.length < ipCount) clientIps.push(ips.next(rng, network, profile.ipsClustered ? main : undefined));
    // the main address carries most of the traffic; the rest share what is left
    const ipTable = new WeightedTable(clientIps.map((ip, i) => [ip, i === 0 ? 3 : 1] as const));

    const userAgent = pickUserAgent(rng, profile.userAgents);
    const userCount = rng.intBetween(profile.users[0], profile.users[1]);
    const users = Array.from({ length: userCount }, (_, j) => `u${index}-${j}`);

    // each client's mix differs from its kind's by a Gamma(2) factor per route (Dirichlet-like)
    const routes = new WeightedTable(Object.entries(profile.routes).map(([r, w]) => [r as RouteName, w! * rng.gamma(2, 0.5)] as const));

    const tz = timeZones.sample(rng);
    const pattern: RatePattern = patterns
      ? {
          tzOffsetHours: tz,
          peakHour: rng.normal(profile.peak[0], profile.peak[1]),
          concentration: rng.uniform(profile.concentration[0], profile.concentration[1]),
          weekendFactor: rng.uniform(profile.weekend[0], profile.weekend[1]),
          noiseSigma: profile.noiseSigma,
        }
      : { tzOffsetHours: tz, peakHour: 12, concentration: 0, weekendFactor: 1, noiseSigma: 0 };

    const rate = Math.min(MAX_RATE_PER_MIN, rng.logNormal(median, sigma) * tierRate[tier] * profile.rateMultiplier * (anonymous ? 0.5 : 1));
    drafts.push({
      index,
      name: `c${String(index).padStart(4, '0')}`,
      kind,
      tier,
      apiKey,
      keyId,
      clientKey: keyId === null ? `ip:${main}` : `apiKey:${keyId}`,
      ips: clientIps,
      ipTable,
      userAgent,
      uaHash: uaHash(userAgent),
      users,
      rate,
      pattern,
      routes,
      errorPropensity: rng.logNormal(1, 0.8),
    });
  }

  // after every client's own addresses, from their own streams: the first draws of the population
  // stay what they were without devices
  const deviceShare = options.laterDeviceShare ?? 1 / 3;
  for (const d of drafts) {
    if (d.apiKey === null || (d.kind !== 'web' && d.kind !== 'mobile')) continue;
    const rng = root.fork(`device/${d.index}`);
    if (!(rng.float() < deviceShare)) continue;
    const userAgent = pickUserAgent(rng, rng.float() < 0.5 ? 'browser' : 'mobile');
    if (userAgent === d.userAgent) continue;
    (d as { laterDevice?: LaterDevice }).laterDevice = { userAgent, uaHash: uaHash(userAgent), ip: ips.next(rng, 'access'), startFraction: rng.uniform(0.1, 0.9), share: rng.uniform(0.2, 0.5) };
  }

  const natural = drafts.reduce((sum, d) => sum + d.rate, 0);
  const scale = options.ratePerSec !== undefined && natural > 0 ? (options.ratePerSec * 60) / natural : 1;
  const clients: SimClient[] = drafts.map(({ rate, ...rest }) => ({ ...rest, meanRatePerMin: rate * scale }));
  return {
    seed: options.seed,
    clients,
    ips,
    hashKey,
    meanRatePerSec: clients.reduce((sum, c) => sum + c.meanRatePerMin, 0) / 60,
    patterns,
  };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Modified Bessel function I0 (the von Mises normaliser), by its power series. */
export function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-15) break;
  }
  return sum;
}

const I0_CACHE = new Map<number, number>();
function normaliser(k: number): number {
  let v = I0_CACHE.get(k);
  if (v === undefined) {
    if (I0_CACHE.size > 100_000) I0_CACHE.clear();
    I0_CACHE.set(k, (v = besselI0(k)));
  }
  return v;
}

/**
 * The client's rate at `ms` relative to its weekly mean (diurnal × weekly, mean 1 over a week):
 * a von Mises day in the client's local time, weekends scaled by weekendFactor.
 */
export function rateMultiplier(pattern: RatePattern, ms: number): number {
  if (pattern.concentration === 0 && pattern.weekendFactor === 1) return 1;
  const localMs = ms + pattern.tzOffsetHours * HOUR_MS;
  const hour = (localMs % DAY_MS) / HOUR_MS;
  const k = pattern.concentration;
  const diurnal = k === 0 ? 1 : Math.exp(k * Math.cos((2 * Math.PI * (hour - pattern.peakHour)) / 24)) / normaliser(k);
  // 1970-01-01 was a Thursday: day 0 → 4 with Sunday = 0
  const dow = (Math.floor(localMs / DAY_MS) + 4) % 7;
  const weekend = dow === 0 || dow === 6;
  const weekly = (weekend ? pattern.weekendFactor : 1) / ((5 + 2 * pattern.weekendFactor) / 7);
  return diurnal * weekly;
}

/**
 * The `clients:` section of a policy for this population: every keyed client's tier by its key id
 * (`apiKeyId:<id>`, so no raw key ends up in a policy file).
 */
export function policyClients(population: Population): Record<string, { tier: Tier }> {
  const out: Record<string, { tier: Tier }> = {};
  for (const c of population.clients) if (c.keyId !== null) out[`apiKeyId:${c.keyId}`] = { tier: c.tier };
  return out;
}

/** Clients ordered by mean rate, busiest first. */
export function byRate(population: Population): SimClient[] {
  return [...population.clients].sort((a, b) => b.meanRatePerMin - a.meanRatePerMin || a.index - b.index);
}
