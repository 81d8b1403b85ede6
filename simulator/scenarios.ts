/**
 * Labelled attacks injected into the normal traffic at known times. Each scenario is planned once
 * (its attacker identities and its ground-truth label are fixed by the seed) and can then produce
 * fresh actors any number of times, always the same calls.
 *
 * They are made realistic rather than trivially separable: attackers borrow browser user agents,
 * bots jitter their timing, low-and-slow abuse stays inside the range of busy normal clients, a
 * compromised key keeps a normal-ish rate and its owner keeps using it, and mobile apps' keys
 * legitimately show up from several addresses, so a key shared across many IPs must be told apart
 * by degree, not by kind.
 */
import { parseDuration } from '../models/duration.js';
import { apiKeyId } from '../models/clientKey.js';
import { ArrivalActor, JitteredPeriodic, MINUTE_MS, PiecewisePoisson, minuteSegmentEnd, type Actor } from './arrivals.js';
import { GRAPHQL_QUERIES, normalIntent, popularItem, popularWord } from './behaviour.js';
import type { CallBuilder, Caller, RequestIntent } from './calls.js';
import { newApiKey, pickUserAgent, uaHash, type IpAllocator, type Network, type UserAgentFamily } from './identities.js';
import { rateMultiplier, type ClientKind, type Population, type RatePattern, type SimClient, type Tier } from './population.js';
import { WeightedTable, type Rng } from './random.js';
import { ITEM_COUNT, nextExistingItem, passwordFor, REPORT_COUNT } from './routes.js';

export const SCENARIO_NAMES = ['credential-stuffing', 'scraping', 'volumetric-burst', 'key-sharing', 'low-and-slow', 'compromised-key'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface ScenarioSpec {
  readonly name: ScenarioName;
  /** Onset as an offset from the simulation start: ms, or a duration string (`20m`). */
  readonly at: number | string;
  /** How long the attack lasts: ms or a duration string. */
  readonly duration: number | string;
  /** Scales the attack's rate (default 1). */
  readonly intensity?: number;
  /**
   * Attacker identities. credential-stuffing: source IPs (default 12); scraping, volumetric-burst,
   * low-and-slow: API keys (1, 1, 3); key-sharing: IPs sharing the key (60); compromised-key: the
   * attacker's new IPs (3).
   */
  readonly attackers?: number;
  /** key-sharing, compromised-key: the victim's client key (default: a mid-rate keyed client picked by the seed). */
  readonly victim?: string;
  /** credential-stuffing: every attacker IP sends the same API key, so the attack is one client (default false). */
  readonly keyed?: boolean;
}

/** Ground truth of one injected attack. */
export interface GroundTruthLabel {
  /** `<scenario>#<index in the scenario list>`; the `scenario` field of the attack's SimCalls. */
  readonly id: string;
  readonly scenario: ScenarioName;
  /** Client keys (as in CallEvent.client) that a detector should flag. */
  readonly clients: readonly string[];
  /** Addresses the attack's calls came from. */
  readonly ips: readonly string[];
  /** Epoch ms of the first moment of the attack, and of its end (clamped to the simulation). */
  readonly onsetMs: number;
  readonly endMs: number;
  readonly description: string;
}

export interface ScenarioContext {
  readonly population: Population;
  /** A copy of the population's allocator, owned by one simulation (so planning twice gives the same IPs). */
  readonly ips: IpAllocator;
  readonly startMs: number;
  readonly endMs: number;
  /** Victims already used by earlier scenarios (one victim per attack keeps labels unambiguous). */
  readonly taken: Set<string>;
}

export interface PlannedScenario {
  readonly label: GroundTruthLabel;
  /** Fresh actors for one pass over the simulation (same calls every time). */
  actors(builder: CallBuilder): Actor[];
}

export function toMs(value: number | string, what: string): number {
  const ms = typeof value === 'number' ? value : parseDuration(value);
  if (ms === null || !Number.isFinite(ms) || ms < 0) throw new RangeError(`${what}: ${JSON.stringify(value)} is not a duration (ms or 250ms/10s/5m/2h/1d)`);
  return ms;
}

/** Plans a scenario from its spec; null when it falls entirely outside the simulated window. */
export function planScenario(spec: ScenarioSpec, index: number, rng: Rng, ctx: ScenarioContext): PlannedScenario | null {
  if (!SCENARIO_NAMES.includes(spec.name)) throw new RangeError(`unknown scenario "${spec.name}" (known: ${SCENARIO_NAMES.join(', ')})`);
  const onsetMs = ctx.startMs + toMs(spec.at, `${spec.name}.at`);
  const endMs = Math.min(onsetMs + toMs(spec.duration, `${spec.name}.duration`), ctx.endMs);
  if (onsetMs >= endMs) return null;
  const intensity = spec.intensity ?? 1;
  if (!(intensity > 0)) throw new RangeError(`${spec.name}.intensity must be > 0`);
  if (spec.attackers !== undefined && !(Number.isInteger(spec.attackers) && spec.attackers >= 1)) throw new RangeError(`${spec.name}.attackers must be an integer ≥ 1`);
  const window: Window = { id: `${spec.name}#${index}`, onsetMs, endMs, intensity, rng };
  switch (spec.name) {
    case 'credential-stuffing':
      return credentialStuffing(window, spec, ctx);
    case 'scraping':
      return scraping(window, spec, ctx);
    case 'volumetric-burst':
      return volumetricBurst(window, spec, ctx);
    case 'key-sharing':
      return keySharing(window, spec, ctx);
    case 'low-and-slow':
      return lowAndSlow(window, spec, ctx);
    case 'compromised-key':
      return compromisedKey(window, spec, ctx);
  }
}

/**
 * The six scenarios spread over a simulation of `durationMs`, one after another, each lasting its
 * typical time but at most a fifth of the simulation (at least a minute).
 */
export function defaultScenarios(durationMs: number): ScenarioSpec[] {
  const typical: Array<[ScenarioName, number]> = [
    ['credential-stuffing', 20 * MINUTE_MS],
    ['scraping', 30 * MINUTE_MS],
    ['volumetric-burst', 5 * MINUTE_MS],
    ['key-sharing', 120 * MINUTE_MS],
    ['compromised-key', 60 * MINUTE_MS],
    ['low-and-slow', 240 * MINUTE_MS],
  ];
  return typical.map(([name, typicalMs], i) => ({
    name,
    at: Math.round(durationMs * (0.1 + 0.12 * i)),
    duration: Math.min(typicalMs, Math.max(MINUTE_MS, Math.round(durationMs * 0.2))),
  }));
}

interface Window {
  readonly id: string;
  readonly onsetMs: number;
  readonly endMs: number;
  readonly intensity: number;
  readonly rng: Rng;
}

function newCaller(rng: Rng, tier: Tier, family: UserAgentFamily, hashKey: string | undefined): Caller & { apiKey: string } {
  const apiKey = newApiKey(rng, tier);
  const userAgent = pickUserAgent(rng, family);
  return { apiKey, clientKey: `apiKey:${apiKeyId(apiKey, hashKey)}`, tier, userAgent, uaHash: uaHash(userAgent) };
}

function withUserAgent(caller: Caller, userAgent: string): Caller {
  return { ...caller, userAgent, uaHash: uaHash(userAgent) };
}

function anonymousCaller(ip: string, userAgent: string): Caller {
  return { apiKey: null, clientKey: `ip:${ip}`, tier: 'free', userAgent, uaHash: uaHash(userAgent) };
}

/**
 * A keyed client from a band of percentiles of keyed clients by rate (e.g. 30th–90th): busy enough
 * that its owner's traffic is visible, not so busy that the attack drowns in it.
 */
function pickVictim(rng: Rng, ctx: ScenarioContext, kinds: readonly ClientKind[], band: readonly [number, number], explicit: string | undefined, scenario: string): SimClient {
  if (explicit !== undefined) {
    const client = ctx.population.clients.find((c) => c.clientKey === explicit);
    if (!client || client.apiKey === null) throw new RangeError(`${scenario}.victim: "${explicit}" is not a keyed client of the population`);
    ctx.taken.add(client.clientKey);
    return client;
  }
  const keyed = ctx.population.clients.filter((c) => c.apiKey !== null && !ctx.taken.has(c.clientKey)).sort((a, b) => a.meanRatePerMin - b.meanRatePerMin || a.index - b.index);
  const inBand = keyed.slice(Math.floor(keyed.length * band[0]), Math.ceil(keyed.length * band[1]));
  const preferred = inBand.filter((c) => kinds.includes(c.kind));
  const pool = preferred.length > 0 ? preferred : inBand.length > 0 ? inBand : keyed;
  if (pool.length === 0) throw new RangeError(`${scenario}: the population has no keyed client left to victimise`);
  const victim = rng.pick(pool);
  ctx.taken.add(victim.clientKey);
  return victim;
}

/** Someone from a leaked credential list; a few of them are real users with their real password. */
function leakedLogin(rng: Rng, population: Population): RequestIntent {
  if (rng.float() < 0.03) {
    const withUsers = population.clients[rng.int(population.clients.length)]!;
    if (withUsers.users.length > 0) {
      const user = rng.pick(withUsers.users);
      return { route: 'login', body: { user, password: passwordFor(user) } };
    }
  }
  const user = `user${rng.int(10_000_000)}@mail.example`;
  return { route: 'login', body: { user, password: `${rng.pick(['123456', 'password', 'qwerty', 'letmein', 'Summer2024!', 'iloveyou'])}${rng.int(100)}` } };
}

function hostingOrAccess(rng: Rng, hostingShare: number): Network {
  return rng.float() < hostingShare ? 'hosting' : 'access';
}

/** Credential stuffing: a botnet of IPs in on/off bursts of POST /login with leaked credentials, ~97% 401. */
function credentialStuffing(w: Window, spec: ScenarioSpec, ctx: ScenarioContext): PlannedScenario {
  const n = spec.attackers ?? 12;
  const idRng = w.rng.fork('identities');
  const shared = spec.keyed ? newCaller(idRng, 'free', 'browser', ctx.population.hashKey) : null;
  const bots = Array.from({ length: n }, () => {
    const ip = ctx.ips.next(idRng, hostingOrAccess(idRng, 0.7));
    const userAgent = pickUserAgent(idRng, 'browser');
    return { ip, caller: shared ? withUserAgent(shared, userAgent) : anonymousCaller(ip, userAgent) };
  });
  const ratePerMs = (1.5 * w.intensity) / 1000;
  return {
    label: {
      id: w.id,
      scenario: 'credential-stuffing',
      clients: shared ? [shared.clientKey] : bots.map((b) => b.caller.clientKey),
      ips: bots.map((b) => b.ip),
      onsetMs: w.onsetMs,
      endMs: w.endMs,
      description: `${n} IPs${shared ? ' sharing one API key' : ''} in on/off bursts of ~${(1.5 * w.intensity).toFixed(1)}/s each of POST /login with leaked credentials (~97% 401)`,
    },
    actors: (builder) =>
      bots.map((bot, i) => {
        const rng = w.rng.fork(`bot/${i}`);
        // off first for up to a minute (bots join the campaign one by one), then on ~60 s / off ~120 s
        let on = false;
        let first = true;
        const arrivals = new PiecewisePoisson(rng, w.onsetMs, w.endMs, (from) => {
          const length = first ? rng.float() * MINUTE_MS : rng.exponential(on ? 1 / 120_000 : 1 / 60_000);
          if (!first) on = !on;
          first = false;
          return { endMs: from + Math.max(1_000, length), ratePerMs: on ? ratePerMs : 0 };
        });
        return new ArrivalActor(arrivals, (ts) =>
          builder.build(ts, bot.caller, bot.ip, rng.float() < 0.95 ? leakedLogin(rng, ctx.population) : { route: 'me' }, rng, w.id),
        );
      }),
  };
}

/** Scraping: a key walking /api/items/:id in order at a steady, jittered ~3/s (gaps give ~10% 404). */
function scraping(w: Window, spec: ScenarioSpec, ctx: ScenarioContext): PlannedScenario {
  const n = spec.attackers ?? 1;
  const idRng = w.rng.fork('identities');
  const scrapers = Array.from({ length: n }, () => {
    const caller = newCaller(idRng, 'free', idRng.float() < 0.5 ? 'tools' : 'browser', ctx.population.hashKey);
    const first = ctx.ips.next(idRng, 'hosting');
    const ips = idRng.float() < 0.5 ? [first] : [first, ctx.ips.next(idRng, 'hosting', first)];
    return { caller, ips, startId: 1 + idRng.int(ITEM_COUNT / 2) };
  });
  const rate = 3 * w.intensity;
  return {
    label: {
      id: w.id,
      scenario: 'scraping',
      clients: scrapers.map((s) => s.caller.clientKey),
      ips: scrapers.flatMap((s) => s.ips),
      onsetMs: w.onsetMs,
      endMs: w.endMs,
      description: `${n} key(s) enumerating /api/items/:id sequentially at ~${rate.toFixed(1)}/s each, jittered`,
    },
    actors: (builder) =>
      scrapers.map((s, i) => {
        const rng = w.rng.fork(`scraper/${i}`);
        let id = s.startId;
        let page = 1;
        return new ArrivalActor(new JitteredPeriodic(rng, w.onsetMs, w.endMs, 1000 / rate, 0.4), (ts) => {
          const intent: RequestIntent = rng.float() < 0.9 ? { route: 'items.get', id: id <= ITEM_COUNT ? id++ : (id = 1) } : { route: 'items.list', query: { page: String(page++), limit: '50' } };
          return builder.build(ts, s.caller, rng.pick(s.ips), intent, rng, w.id);
        });
      }),
  };
}

/** Volumetric burst: ~40/s of ordinary-looking requests from one key, ramping up over 15 s. */
function volumetricBurst(w: Window, spec: ScenarioSpec, ctx: ScenarioContext): PlannedScenario {
  const n = spec.attackers ?? 1;
  const idRng = w.rng.fork('identities');
  const attackers = Array.from({ length: n }, () => {
    const caller = newCaller(idRng, 'pro', 'server', ctx.population.hashKey);
    const first = ctx.ips.next(idRng, 'hosting');
    const ips = [first];
    const count = idRng.intBetween(1, 3);
    while (ips.length < count) ips.push(ctx.ips.next(idRng, 'hosting', first));
    return { caller, ips };
  });
  const total = 40 * w.intensity;
  const mix = new WeightedTable<'search' | 'items.get' | 'graphql'>([['search', 50], ['items.get', 30], ['graphql', 20]]);
  return {
    label: {
      id: w.id,
      scenario: 'volumetric-burst',
      clients: attackers.map((a) => a.caller.clientKey),
      ips: attackers.flatMap((a) => a.ips),
      onsetMs: w.onsetMs,
      endMs: w.endMs,
      description: `${n} key(s) flooding ~${total.toFixed(0)}/s in total of search/items/graphql, 15 s ramp-up`,
    },
    actors: (builder) =>
      attackers.map((a, i) => {
        const rng = w.rng.fork(`flood/${i}`);
        const peakPerMs = total / n / 1000;
        const arrivals = new PiecewisePoisson(rng, w.onsetMs, w.endMs, (from) => ({
          endMs: Math.floor(from / 1000) * 1000 + 1000,
          ratePerMs: peakPerMs * Math.min(1, Math.max(0.05, (from - w.onsetMs) / 15_000)),
        }));
        return new ArrivalActor(arrivals, (ts) => {
          const route = mix.sample(rng);
          const intent: RequestIntent =
            route === 'search' ? { route, query: { q: popularWord(rng) } } : route === 'items.get' ? { route, id: nextExistingItem(popularItem(rng)) } : { route, body: { query: rng.pick(GRAPHQL_QUERIES) } };
          return builder.build(ts, a.caller, rng.pick(a.ips), intent, rng, w.id);
        });
      }),
  };
}

/**
 * Key sharing: a busy existing client's key (60th–95th percentile) suddenly also used from 60 more
 * IPs, roughly doubling its traffic (at least 0.1/min per sharing IP, so the spread shows within an hour), with the
 * owner's own route mix.
 */
function keySharing(w: Window, spec: ScenarioSpec, ctx: ScenarioContext): PlannedScenario {
  const n = spec.attackers ?? 60;
  const idRng = w.rng.fork('identities');
  const victim = pickVictim(idRng, ctx, ['web', 'integration', 'analytics'], [0.6, 0.95], spec.victim, 'key-sharing');
  const sharers = Array.from({ length: n }, () => {
    const ip = ctx.ips.next(idRng, 'access');
    const userAgent = pickUserAgent(idRng, idRng.float() < 0.6 ? 'browser' : 'mobile');
    // some sharers are more active than others (mildly Pareto weights)
    return { ip, caller: withUserAgent(victim, userAgent), weight: idRng.pareto(1, 3) };
  });
  const totalPerMin = Math.max(victim.meanRatePerMin, n * 0.1) * w.intensity;
  // the sharers live elsewhere: their own evening peak in another time zone
  const pattern: RatePattern = { tzOffsetHours: idRng.pick([-5, 1, 8]), peakHour: 20, concentration: ctx.population.patterns ? 0.7 : 0, weekendFactor: ctx.population.patterns ? 1.1 : 1, noiseSigma: 0 };
  const table = new WeightedTable(sharers.map((s, i) => [i, s.weight] as const));
  return {
    label: {
      id: w.id,
      scenario: 'key-sharing',
      clients: [victim.clientKey],
      ips: sharers.map((s) => s.ip),
      onsetMs: w.onsetMs,
      endMs: w.endMs,
      description: `${victim.name}'s ${victim.tier} key used from ${n} more IPs (~${totalPerMin.toFixed(1)}/min in total, its own route mix)`,
    },
    actors: (builder) => {
      const rng = w.rng.fork('sharers');
      const arrivals = new PiecewisePoisson(rng, w.onsetMs, w.endMs, (from) => {
        const end = minuteSegmentEnd(from);
        return { endMs: end, ratePerMs: (totalPerMin / MINUTE_MS) * rateMultiplier(pattern, (from + end) / 2) };
      });
      return [
        new ArrivalActor(arrivals, (ts) => {
          const s = sharers[table.sample(rng)]!;
          return builder.build(ts, s.caller, s.ip, normalIntent(victim.routes.sample(rng), victim, rng), rng, w.id);
        }),
      ];
    },
  };
}

/**
 * Low-and-slow: keys at a modestly elevated, perfectly steady rate (~8/min, night and day) for hours,
 * alternately enumerating items and trying leaked logins, staying under typical per-key limits.
 */
function lowAndSlow(w: Window, spec: ScenarioSpec, ctx: ScenarioContext): PlannedScenario {
  const n = spec.attackers ?? 3;
  const idRng = w.rng.fork('identities');
  const bots = Array.from({ length: n }, (_, i) => ({
    caller: newCaller(idRng, 'free', 'browser', ctx.population.hashKey),
    ip: ctx.ips.next(idRng, hostingOrAccess(idRng, 0.6)),
    goal: i % 2 === 0 ? ('enumerate' as const) : ('logins' as const),
    startId: 1 + idRng.int(ITEM_COUNT / 2),
  }));
  const perMin = 8 * w.intensity;
  return {
    label: {
      id: w.id,
      scenario: 'low-and-slow',
      clients: bots.map((b) => b.caller.clientKey),
      ips: bots.map((b) => b.ip),
      onsetMs: w.onsetMs,
      endMs: w.endMs,
      description: `${n} key(s) at a steady ~${perMin.toFixed(1)}/min each, around the clock, enumerating items or trying leaked logins`,
    },
    actors: (builder) =>
      bots.map((b, i) => {
        const rng = w.rng.fork(`slow/${i}`);
        let id = b.startId;
        return new ArrivalActor(new JitteredPeriodic(rng, w.onsetMs, w.endMs, MINUTE_MS / perMin, 0.8), (ts) => {
          let intent: RequestIntent;
          if (b.goal === 'logins') intent = rng.float() < 0.9 ? leakedLogin(rng, ctx.population) : { route: 'me' };
          else intent = rng.float() < 0.9 ? { route: 'items.get', id: id <= ITEM_COUNT ? id++ : (id = 1) } : { route: 'search', query: { q: popularWord(rng) } };
          return builder.build(ts, b.caller, b.ip, intent, rng, w.id);
        });
      }),
  };
}

const HEAVY_GRAPHQL = ['{ items(first: 100) { id name price stock supplier { id name email phone } } }', '{ __schema { types { name fields { name } } } }', '{ orders(last: 100) { id total customer { id email address } } }'];

/**
 * Compromised key: an existing client's key, from new hosting IPs with a tooling user agent and a
 * data-exfiltration route mix (bulk listing, reports, heavy GraphQL), at a normal-ish rate, while
 * its owner keeps using it as before.
 */
function compromisedKey(w: Window, spec: ScenarioSpec, ctx: ScenarioContext): PlannedScenario {
  const n = spec.attackers ?? 3;
  const idRng = w.rng.fork('identities');
  const victim = pickVictim(idRng, ctx, ['web', 'integration', 'analytics'], [0.3, 0.9], spec.victim, 'compromised-key');
  const first = ctx.ips.next(idRng, 'hosting');
  const ips = [first];
  while (ips.length < n) ips.push(ctx.ips.next(idRng, 'hosting', idRng.float() < 0.5 ? first : undefined));
  const caller = withUserAgent(victim, pickUserAgent(idRng, 'tools'));
  const perMin = Math.max(victim.meanRatePerMin * 1.5, 3) * w.intensity;
  const mix = new WeightedTable<'items.list' | 'reports.create' | 'reports.get' | 'graphql' | 'me'>([['items.list', 35], ['reports.create', 20], ['reports.get', 20], ['graphql', 20], ['me', 5]]);
  return {
    label: {
      id: w.id,
      scenario: 'compromised-key',
      clients: [victim.clientKey],
      ips,
      onsetMs: w.onsetMs,
      endMs: w.endMs,
      description: `${victim.name}'s ${victim.tier} key also used from ${n} new hosting IPs at ~${perMin.toFixed(1)}/min with an export-like route mix`,
    },
    actors: (builder) => {
      const rng = w.rng.fork('intruder');
      let page = 1;
      const arrivals = new PiecewisePoisson(rng, w.onsetMs, w.endMs, (from) => ({ endMs: minuteSegmentEnd(from), ratePerMs: perMin / MINUTE_MS }));
      return [
        new ArrivalActor(arrivals, (ts) => {
          const route = mix.sample(rng);
          let intent: RequestIntent;
          if (route === 'items.list') intent = { route, query: { page: String(page++), limit: '100' } };
          else if (route === 'reports.create') intent = { route, body: { kind: 'customers', from: '2020-01-01', to: '2024-12-31' } };
          else if (route === 'reports.get') intent = { route, id: 1 + rng.int(REPORT_COUNT) };
          else if (route === 'graphql') intent = { route, body: { query: rng.pick(HEAVY_GRAPHQL) } };
          else intent = { route };
          return builder.build(ts, caller, rng.pick(ips), intent, rng, w.id);
        }),
      ];
    },
  };
}
