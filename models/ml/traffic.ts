/**
 * A small deterministic traffic generator: a population of normal clients of four kinds and a few
 * labelled attacks, as CallEvents. The autoencoder is trained on its normal traffic (the project's
 * simulator under simulator/ can replace it: training also reads vectors from a file), and the
 * analyzer's tests and benchmarks use it for repeatable scenarios. Same seed → same events.
 *
 * Normal kinds:
 * - browser — a person in sessions (on ≈ 5 min, off ≈ 10 min); page views of 1–8 API calls in a
 *   quick burst; popular routes plus long-tail item pages; an occasional 404/401.
 * - mobile — like browser, but the network (IP) changes now and then.
 * - integration — a server with an API key calling a few routes at a steady pace with jitter.
 * - batch — a cron job with an API key paging through the same export every few minutes.
 */
import type { CallEvent } from '../events.js';
import { exponential, gaussian, mulberry32, pick, poisson, zipf, type Rng } from './prng.js';

export type ProfileKind = 'browser' | 'mobile' | 'integration' | 'batch';

export interface ClientProfile {
  readonly client: string;
  readonly tier: string;
  readonly kind: ProfileKind;
  /** Mean requests per second while active, before the daily cycle. */
  readonly rate: number;
  readonly routes: readonly string[];
  readonly ips: readonly string[];
  readonly ua: string;
  readonly service: string;
  readonly seed: number;
  /** Daily cycle phase (radians). */
  readonly phase: number;
}

export interface PopulationOptions {
  readonly clients: number;
  readonly seed: number;
  /** Share of each kind (defaults: browser 0.5, mobile 0.2, integration 0.2, batch 0.1). */
  readonly mix?: Partial<Record<ProfileKind, number>>;
  readonly service?: string;
}

const POPULAR_ROUTES = [
  '/api/home', '/api/me', '/api/cart', '/api/search', '/api/categories', '/api/recommendations', '/api/notifications',
  '/api/orders', '/api/settings', '/api/feed', '/api/messages', '/api/profile', '/api/wishlist', '/api/help', '/api/promotions',
  '/api/stores', '/api/reviews', '/api/checkout', '/api/addresses', '/api/payments',
];
const INTEGRATION_ROUTES = ['/api/v2/orders', '/api/v2/inventory', '/api/v2/prices', '/api/v2/shipments', '/api/v2/customers', '/api/v2/invoices', '/api/v2/webhooks', '/api/v2/products'];
export const ITEM_SPACE = 5_000;

function hex(rng: Rng, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += Math.floor(rng() * 16).toString(16);
  return out;
}

function ipOf(rng: Rng, prefix = '10'): string {
  return `${prefix}.${Math.floor(rng() * 250) + 1}.${Math.floor(rng() * 250) + 1}.${Math.floor(rng() * 250) + 1}`;
}

export function makePopulation(opts: PopulationOptions): ClientProfile[] {
  const mix = { browser: 0.5, mobile: 0.2, integration: 0.2, batch: 0.1, ...opts.mix };
  const total = mix.browser + mix.mobile + mix.integration + mix.batch;
  const rng = mulberry32(opts.seed ^ 0x9e3779b9);
  const service = opts.service ?? 'api';
  const out: ClientProfile[] = [];
  for (let i = 0; i < opts.clients; i++) {
    const u = rng() * total;
    const kind: ProfileKind = u < mix.browser ? 'browser' : u < mix.browser + mix.mobile ? 'mobile' : u < mix.browser + mix.mobile + mix.integration ? 'integration' : 'batch';
    const seed = (opts.seed * 1_000_003 + i * 7919) >>> 0;
    const ua = hex(rng, 16);
    const phase = rng() * 2 * Math.PI;
    if (kind === 'browser' || kind === 'mobile') {
      const ips = kind === 'mobile' ? [ipOf(rng), ipOf(rng), ipOf(rng)] : [ipOf(rng)];
      const client = kind === 'browser' && rng() < 0.5 ? `ip:${ips[0]}` : `user:${kind === 'mobile' ? 'm' : 'u'}${i}`;
      out.push({ client, tier: 'free', kind, rate: 0.3 * Math.exp(0.8 * gaussian(rng)), routes: POPULAR_ROUTES, ips, ua, service, seed, phase });
    } else if (kind === 'integration') {
      const nRoutes = 3 + Math.floor(rng() * 5);
      const ips = Array.from({ length: 1 + Math.floor(rng() * 3) }, () => ipOf(rng, '172'));
      out.push({ client: `apiKey:${hex(rng, 16)}`, tier: rng() < 0.7 ? 'pro' : 'enterprise', kind, rate: 0.3 + 4 * rng() ** 2, routes: INTEGRATION_ROUTES.slice(0, nRoutes), ips, ua, service, seed, phase });
    } else {
      const pages = 20 + Math.floor(rng() * 80);
      const routes = Array.from({ length: pages }, (_, p) => `/api/v2/export/page/${p + 1}`);
      out.push({ client: `apiKey:${hex(rng, 16)}`, tier: 'pro', kind, rate: 4, routes, ips: [ipOf(rng, '172')], ua, service, seed, phase });
    }
  }
  return out;
}

export const ATTACK_KINDS = ['credential_stuffing', 'scraping', 'volumetric', 'key_sharing', 'low_and_slow', 'slow_brute_force'] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];

export interface AttackSpec {
  readonly kind: AttackKind;
  /** An existing client to hijack (volumetric, key sharing, low-and-slow); else a new client is made up. */
  readonly client?: string;
  readonly startMs: number;
  readonly durationMs: number;
  /** Attack requests per second (defaults per kind). */
  readonly rate?: number;
}

const ATTACK_RATES: Record<AttackKind, number> = {
  credential_stuffing: 8,
  scraping: 6,
  volumetric: 0, // relative: 20× the client's rate, at least 30/s
  key_sharing: 0, // relative: the client's own rate, from many IPs
  low_and_slow: 0, // relative: +150 % of the client's rate
  slow_brute_force: 0.1,
};

interface ClientRun {
  readonly p: ClientProfile;
  readonly rng: Rng;
  next: number;
  /** browser/mobile: session on until / off until. */
  sessionUntil: number;
  burstLeft: number;
  ipIndex: number;
  /** batch: next job start and page. */
  page: number;
}

interface AttackRun {
  readonly spec: AttackSpec;
  readonly client: string;
  readonly base: ClientProfile | null;
  readonly rng: Rng;
  next: number;
  seq: number;
  readonly ips: readonly string[];
}

export interface TrafficOptions {
  readonly seed: number;
  readonly startMs: number;
  readonly attacks?: readonly AttackSpec[];
  /** Multiplies every normal client's rate (load tests). */
  readonly rateScale?: number;
  readonly pod?: string;
}

const DAY_MS = 86_400_000;

/** Events slice by slice in time order: `next(ms)` returns the events of the next `ms` (sorted by ts). */
export class TrafficGenerator {
  private readonly runs: ClientRun[];
  private readonly attackRuns: AttackRun[];
  private t: number;
  private readonly pod: string;
  private readonly rateScale: number;

  constructor(
    readonly population: readonly ClientProfile[],
    opts: TrafficOptions,
  ) {
    this.t = opts.startMs;
    this.pod = opts.pod ?? 'sim-0';
    this.rateScale = opts.rateScale ?? 1;
    this.runs = population.map((p) => {
      const rng = mulberry32(p.seed);
      return { p, rng, next: opts.startMs + exponential(rng, 1000 / Math.max(0.01, p.rate)), sessionUntil: opts.startMs + (rng() < 0.4 ? exponential(rng, 300_000) : -exponential(rng, 600_000)), burstLeft: 0, ipIndex: 0, page: 0 };
    });
    const byClient = new Map(population.map((p) => [p.client, p]));
    this.attackRuns = (opts.attacks ?? []).map((spec, i) => {
      const rng = mulberry32((opts.seed ^ 0xa5a5a5a5) + i * 104729);
      const base = spec.client ? (byClient.get(spec.client) ?? null) : null;
      const client = spec.client ?? (spec.kind === 'scraping' ? `apiKey:${hex(rng, 16)}` : `ip:203.0.113.${1 + Math.floor(rng() * 250)}`);
      const ownIp = base?.ips[0] ?? (client.startsWith('ip:') ? client.slice(3) : ipOf(rng, '198'));
      const ips = spec.kind === 'key_sharing' ? Array.from({ length: 40 }, () => ipOf(rng, '100')) : [ownIp];
      return { spec, client, base, rng, next: spec.startMs, seq: Math.floor(rng() * 1_000_000), ips };
    });
  }

  get now(): number {
    return this.t;
  }

  /** The client key an attack uses (made up for attacks without `client`). */
  attackClient(index: number): string {
    return this.attackRuns[index]!.client;
  }

  next(sliceMs = 10_000): CallEvent[] {
    const end = this.t + sliceMs;
    const out: CallEvent[] = [];
    for (const run of this.runs) this.normal(run, end, out);
    for (const run of this.attackRuns) this.attack(run, end, out);
    this.t = end;
    out.sort((a, b) => a.ts - b.ts);
    return out;
  }

  private diurnal(p: ClientProfile, ts: number): number {
    const amplitude = p.kind === 'integration' ? 0.1 : p.kind === 'batch' ? 0 : 0.4;
    return 1 + amplitude * Math.sin((2 * Math.PI * ts) / DAY_MS + p.phase);
  }

  private normal(run: ClientRun, end: number, out: CallEvent[]): void {
    const { p, rng } = run;
    const rate = p.rate * this.rateScale;
    while (run.next < end) {
      const ts = Math.floor(run.next);
      switch (p.kind) {
        case 'browser':
        case 'mobile': {
          if (ts >= run.sessionUntil) {
            // session over: an off period, then a new session
            const off = exponential(rng, 600_000);
            run.next = ts + off;
            run.sessionUntil = run.next + exponential(rng, 300_000);
            run.burstLeft = 0;
            if (p.kind === 'mobile' && rng() < 0.5) run.ipIndex = (run.ipIndex + 1) % p.ips.length;
            continue;
          }
          if (run.burstLeft === 0) run.burstLeft = 1 + Math.min(7, poisson(rng, 2.5));
          const route = rng() < 0.6 ? p.routes[zipf(rng, p.routes.length)]! : `/api/items/${zipf(rng, ITEM_SPACE, 1.05) + 1}`;
          const u = rng();
          const status = u < 0.015 ? 404 : u < 0.018 ? 401 : u < 0.02 ? 500 : 200;
          out.push(this.event(ts, p, route, status, p.ips[run.ipIndex]!, p.ua, rng));
          run.burstLeft--;
          // inside a page view calls are 20–150 ms apart; between page views the person reads
          const pagesPerSecond = rate / 3.5;
          run.next = run.burstLeft > 0 ? ts + 20 + rng() * 130 : ts + exponential(rng, 1000 / Math.max(0.005, pagesPerSecond * this.diurnal(p, ts)));
          break;
        }
        case 'integration': {
          const route = pick(rng, p.routes);
          const u = rng();
          const status = u < 0.004 ? 404 : u < 0.006 ? 422 : u < 0.008 ? 503 : 200;
          out.push(this.event(ts, p, route, status, p.ips[Math.floor(rng() * p.ips.length)]!, p.ua, rng));
          const gap = (1000 / (rate * this.diurnal(p, ts))) * Math.max(0.2, 1 + 0.3 * gaussian(rng));
          run.next = ts + gap;
          break;
        }
        case 'batch': {
          if (run.page >= p.routes.length) {
            run.page = 0;
            run.next = ts + 180_000 + rng() * 420_000;
            continue;
          }
          out.push(this.event(ts, p, p.routes[run.page]!, 200, p.ips[0]!, p.ua, rng));
          run.page++;
          run.next = ts + (1000 / rate) * Math.max(0.3, 1 + 0.2 * gaussian(rng));
          break;
        }
      }
    }
  }

  private attack(run: AttackRun, end: number, out: CallEvent[]): void {
    const { spec, rng, base } = run;
    const stop = spec.startMs + spec.durationMs;
    const baseRate = (base?.rate ?? 1) * this.rateScale;
    let rate = spec.rate ?? ATTACK_RATES[spec.kind];
    if (!spec.rate) {
      if (spec.kind === 'volumetric') rate = Math.max(30, 20 * baseRate);
      if (spec.kind === 'key_sharing') rate = Math.max(1, baseRate);
      if (spec.kind === 'low_and_slow') rate = Math.max(0.3, 1.5 * baseRate);
    }
    const tier = base?.tier ?? 'free';
    const service = base?.service ?? 'api';
    while (run.next < end && run.next < stop) {
      const ts = Math.floor(run.next);
      run.next = ts + exponential(rng, 1000 / rate);
      if (ts < this.t) continue;
      const ua = base?.ua ?? 'attack-ua-0000000';
      const proto = { client: run.client, tier, service, ua, ips: run.ips };
      switch (spec.kind) {
        case 'credential_stuffing':
        case 'slow_brute_force': {
          const status = rng() < 0.92 ? 401 : 200;
          out.push(this.raw(ts, proto, 'POST', '/login', status, run.ips[0]!, spec.kind === 'credential_stuffing' ? hex(rng, 16) : ua, rng));
          break;
        }
        case 'scraping': {
          run.seq++;
          out.push(this.raw(ts, proto, 'GET', `/api/items/${run.seq}`, rng() < 0.8 ? 200 : 404, run.ips[0]!, ua, rng));
          break;
        }
        case 'volumetric':
        case 'low_and_slow': {
          const routes = base?.routes ?? POPULAR_ROUTES;
          out.push(this.raw(ts, proto, 'GET', routes[zipf(rng, routes.length)]!, 200, run.ips[0]!, ua, rng));
          break;
        }
        case 'key_sharing': {
          const routes = base?.routes ?? INTEGRATION_ROUTES;
          out.push(this.raw(ts, proto, 'GET', pick(rng, routes), 200, pick(rng, run.ips), ua, rng));
          break;
        }
      }
    }
  }

  private event(ts: number, p: ClientProfile, route: string, status: number, ip: string, ua: string, rng: Rng): CallEvent {
    return this.raw(ts, p, p.kind === 'integration' && rng() < 0.3 ? 'POST' : 'GET', route, status, ip, ua, rng);
  }

  private raw(ts: number, c: { client: string; tier: string; service: string }, method: string, route: string, status: number, ip: string, ua: string, rng: Rng): CallEvent {
    return {
      v: 1,
      ts,
      pod: this.pod,
      service: c.service,
      method,
      route,
      status,
      latencyMs: Math.round(20 * Math.exp(0.5 * gaussian(rng)) * 10) / 10,
      bytesIn: method === 'POST' ? 200 + Math.floor(rng() * 800) : 0,
      bytesOut: status === 200 ? 500 + Math.floor(rng() * 4000) : 120,
      ip,
      client: c.client,
      user: c.client.startsWith('user:') ? c.client.slice(5) : null,
      uaHash: ua,
      decision: 'allowed',
      rule: null,
      cost: 1,
      tier: c.tier,
    };
  }
}
