/**
 * Real HTTP load from the simulation, in real time, against a base URL (a sidecar, or the stub).
 *
 * `driveHttp` sends SimCalls either at their simulated times (`speed` simulated ms per real ms) or
 * at a fixed rate in their order, with the raw API key in `x-api-key`, the caller's address in
 * `X-Forwarded-For` (believed only by sidecars that trust 127.0.0.1), its User-Agent, and the
 * route's method and body. `runOfferedLoad` is the load experiment's open-loop generator: a fixed
 * request rate with a per-tier mix, each response's status and latency recorded per tier.
 *
 * Both are open-loop with bounded concurrency: when `maxInFlight` requests are outstanding, a due
 * request is not sent but counted as `skipped`, so a slow target never builds an unbounded backlog
 * in the generator (and skipped load is reported, not hidden).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { requestTarget, type SimCall } from '../calls.js';
import { popularItem } from '../behaviour.js';
import { nextExistingItem } from '../routes.js';
import { IpAllocator } from '../identities.js';
import { Rng, WeightedTable, type Seed } from '../random.js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';

export interface HttpRequestSpec {
  readonly method: string;
  /** Path and query string. */
  readonly target: string;
  readonly body: string | null;
  readonly apiKey: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
}

export interface GroupSnapshot {
  readonly sent: number;
  readonly completed: number;
  readonly skipped: number;
  /** Transport failures by code (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, …). */
  readonly errors: Readonly<Record<string, number>>;
  readonly byStatus: Readonly<Record<string, number>>;
  readonly latency: LatencySummary;
}

class GroupStats {
  sent = 0;
  completed = 0;
  skipped = 0;
  readonly errors: Record<string, number> = {};
  readonly byStatus: Record<string, number> = {};
  readonly latency = new LatencyHistogram();

  snapshot(): GroupSnapshot {
    return { sent: this.sent, completed: this.completed, skipped: this.skipped, errors: { ...this.errors }, byStatus: { ...this.byStatus }, latency: this.latency.summary() };
  }
}

interface SenderOptions {
  readonly maxInFlight: number;
  readonly connections: number;
  readonly timeoutMs: number;
  readonly forwardedFor: boolean;
  readonly headers: Readonly<Record<string, string>>;
}

/** One undici pool with keep-alive, a concurrency cap, and per-group counters. */
class HttpSender {
  private readonly pool: Pool;
  private readonly prefix: string;
  inFlight = 0;

  constructor(
    baseUrl: string,
    private readonly opts: SenderOptions,
  ) {
    const url = new URL(baseUrl);
    this.prefix = url.pathname.replace(/\/$/, '');
    this.pool = new Pool(url.origin, {
      connections: opts.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  }

  /** Sends unless the concurrency cap is reached (then counts a skip and returns false). */
  send(spec: HttpRequestSpec, group: GroupStats, onDone?: (status: number | null, latencyMs: number) => void): boolean {
    if (this.inFlight >= this.opts.maxInFlight) {
      group.skipped++;
      return false;
    }
    group.sent++;
    this.inFlight++;
    const headers: Record<string, string> = { ...this.opts.headers };
    if (spec.apiKey !== null) headers['x-api-key'] = spec.apiKey;
    if (spec.ip !== null && this.opts.forwardedFor) headers['x-forwarded-for'] = spec.ip;
    if (spec.userAgent !== null) headers['user-agent'] = spec.userAgent;
    if (spec.body !== null) headers['content-type'] = 'application/json';
    const started = performance.now();
    this.pool
      .request({ method: spec.method as 'GET', path: this.prefix + spec.target, headers, body: spec.body ?? undefined })
      .then(async (res) => {
        await res.body.dump();
        const latency = performance.now() - started;
        group.completed++;
        group.byStatus[res.statusCode] = (group.byStatus[res.statusCode] ?? 0) + 1;
        group.latency.record(latency);
        onDone?.(res.statusCode, latency);
      })
      .catch((err: { code?: string; message?: string }) => {
        const code = err?.code ?? 'ERROR';
        group.errors[code] = (group.errors[code] ?? 0) + 1;
        onDone?.(null, performance.now() - started);
      })
      .finally(() => {
        this.inFlight--;
      });
    return true;
  }

  /** Waits for outstanding requests (at most `timeoutMs`), then closes the pool. */
  async close(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.inFlight > 0 && performance.now() < deadline) await sleep(5);
    await (this.inFlight > 0 ? this.pool.destroy() : this.pool.close());
  }
}

interface StopFlag {
  stopped: boolean;
  wake: (() => void) | null;
}

/**
 * Dispatches items when their due time (ms since the start) arrives, until the source ends, an
 * item falls due at or after the deadline, or `stop` is set. Sleeps between due times (≤ 20 ms, so stop is prompt) and
 * yields to the event loop every 64 sends when behind, so responses keep being read.
 */
async function runPaced<T>(source: Iterator<T>, dueOf: (item: T, index: number) => number, dispatch: (item: T) => void, deadlineMs: number, stop: StopFlag): Promise<number> {
  const start = performance.now();
  let current = source.next();
  let index = 0;
  let burst = 0;
  while (!current.done && !stop.stopped) {
    const now = performance.now() - start;
    const due = dueOf(current.value, index);
    // everything due before the deadline is sent, even if a stalled event loop reaches it late
    if (due >= deadlineMs) break;
    if (due <= now) {
      dispatch(current.value);
      current = source.next();
      index++;
      if (++burst >= 64) {
        burst = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } else {
      burst = 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.min(due - now, 20)));
        stop.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      stop.wake = null;
    }
  }
  // a run with a deadline lasts until it (nothing more was due), so rates divide by the real span
  if (!current.done) {
    while (!stop.stopped && performance.now() - start < deadlineMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.min(deadlineMs - (performance.now() - start), 20)));
        stop.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      stop.wake = null;
    }
  }
  return performance.now() - start;
}

export interface DriveHttpOptions {
  /** e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  readonly baseUrl: string;
  /** The calls to send, in time order (e.g. `simulation.calls()`). */
  readonly calls: Iterable<SimCall> | Iterator<SimCall>;
  /** Fixed rate: send the next call every 1/ratePerSec s, ignoring its timestamp. */
  readonly ratePerSec?: number;
  /** Timestamp pacing (when ratePerSec is unset): simulated ms per real ms (default 1: real time). */
  readonly speed?: number;
  /** Simulated time that maps to the driver's start (default: the first call's ts). */
  readonly simStartMs?: number;
  /** Stop after this much real time (default: when the calls end). */
  readonly durationMs?: number;
  /** Outstanding requests allowed before due calls are skipped (default 256). */
  readonly maxInFlight?: number;
  /** Keep-alive connections (default min(maxInFlight, 64)). */
  readonly connections?: number;
  /** Headers and body timeout per request, and the final drain's bound (default 10 s). */
  readonly timeoutMs?: number;
  /** Send X-Forwarded-For with the caller's IP (default true). */
  readonly forwardedFor?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
  /** Called with each answer (status null: transport error), e.g. to watch an attacker get blocked. */
  readonly onResult?: (call: SimCall, status: number | null, latencyMs: number) => void;
}

export interface HttpRunStats extends GroupSnapshot {
  readonly elapsedMs: number;
  /** Requests sent per real second (the pacing). */
  readonly offeredRatePerSec: number;
  /** Answers received per real second. */
  readonly achievedRatePerSec: number;
  readonly inFlight: number;
  /** Per ground-truth group: `normal`, or a scenario label id (`credential-stuffing#0`). */
  readonly groups: Readonly<Record<string, GroupSnapshot>>;
}

export interface HttpDriver {
  /** Resolves when the calls end, the duration passes or stop() is called, after in-flight requests settle. */
  readonly done: Promise<HttpRunStats>;
  stop(): Promise<HttpRunStats>;
  /** A snapshot while running. */
  stats(): HttpRunStats;
}

function perSec(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? Math.round((count / elapsedMs) * 10_000) / 10 : 0;
}

function totals(groups: ReadonlyMap<string, GroupStats>): GroupStats {
  const all = new GroupStats();
  for (const g of groups.values()) {
    all.sent += g.sent;
    all.completed += g.completed;
    all.skipped += g.skipped;
    for (const [k, v] of Object.entries(g.errors)) all.errors[k] = (all.errors[k] ?? 0) + v;
    for (const [k, v] of Object.entries(g.byStatus)) all.byStatus[k] = (all.byStatus[k] ?? 0) + v;
    all.latency.merge(g.latency);
  }
  return all;
}

export function driveHttp(options: DriveHttpOptions): HttpDriver {
  const maxInFlight = options.maxInFlight ?? 256;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const sender = new HttpSender(options.baseUrl, {
    maxInFlight,
    connections: options.connections ?? Math.min(maxInFlight, 64),
    timeoutMs,
    forwardedFor: options.forwardedFor ?? true,
    headers: options.headers ?? {},
  });
  const groups = new Map<string, GroupStats>();
  const group = (name: string): GroupStats => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = new GroupStats()));
    return g;
  };
  const stop: StopFlag = { stopped: false, wake: null };
  const started = performance.now();
  let finishedMs: number | null = null;

  const source: Iterator<SimCall> = Symbol.iterator in options.calls ? (options.calls as Iterable<SimCall>)[Symbol.iterator]() : (options.calls as Iterator<SimCall>);
  let dueOf: (call: SimCall, index: number) => number;
  if (options.ratePerSec !== undefined) {
    if (!(options.ratePerSec > 0)) throw new RangeError('ratePerSec must be > 0');
    const gap = 1000 / options.ratePerSec;
    dueOf = (_call, index) => index * gap;
  } else {
    const speed = options.speed ?? 1;
    if (!(speed > 0)) throw new RangeError('speed must be > 0');
    let simStart = options.simStartMs;
    dueOf = (call) => {
      simStart ??= call.event.ts;
      return (call.event.ts - simStart) / speed;
    };
  }

  const snapshot = (): HttpRunStats => {
    const all = totals(groups);
    const elapsedMs = (finishedMs ?? performance.now()) - started;
    const out: Record<string, GroupSnapshot> = {};
    for (const [k, g] of groups) out[k] = g.snapshot();
    return {
      ...all.snapshot(),
      elapsedMs: Math.round(elapsedMs),
      offeredRatePerSec: perSec(all.sent, elapsedMs),
      achievedRatePerSec: perSec(all.completed, elapsedMs),
      inFlight: sender.inFlight,
      groups: out,
    };
  };

  const done = (async () => {
    const onResult = options.onResult;
    await runPaced(
      source,
      dueOf,
      (call) => {
        const spec: HttpRequestSpec = { method: call.method, target: requestTarget(call), body: call.body, apiKey: call.apiKey, ip: call.event.ip, userAgent: call.userAgent };
        sender.send(spec, group(call.scenario ?? 'normal'), onResult ? (status, latency) => onResult(call, status, latency) : undefined);
      },
      options.durationMs ?? Infinity,
      stop,
    );
    finishedMs = performance.now();
    await sender.close(timeoutMs);
    return snapshot();
  })();

  return {
    done,
    stats: snapshot,
    stop: () => {
      stop.stopped = true;
      stop.wake?.();
      return done;
    },
  };
}

export interface OfferedLoadTier {
  readonly tier: string;
  /** Share of the offered requests (normalised over the tiers). */
  readonly share: number;
  /** Raw keys the tier's requests are spread over (the sidecar's policy assigns their tier). */
  readonly apiKeys: readonly string[];
}

export interface OfferedLoadOptions {
  readonly baseUrl: string;
  /** Offered requests per second (fixed spacing, open loop). */
  readonly ratePerSec: number;
  readonly durationMs: number;
  readonly tiers: readonly OfferedLoadTier[];
  readonly seed?: Seed;
  /** The request each arrival makes (default: GET of a popular existing item). */
  readonly request?: (rng: Rng, tier: string) => { method: string; target: string; body?: string | null };
  readonly maxInFlight?: number;
  readonly connections?: number;
  readonly timeoutMs?: number;
  /** Give each key its own X-Forwarded-For address (default true). */
  readonly forwardedFor?: boolean;
  /**
   * Rate steps run back to back in this one run — one connection pool, no drain between steps, so a
   * step change is a step in the offered load and nothing else. When set, `ratePerSec` only seeds
   * the request stream and `durationMs` is the steps' total.
   */
  readonly schedule?: ReadonlyArray<{ readonly ratePerSec: number; readonly durationMs: number }>;
  /** Called with each answer (status null: transport error) and when it was sent (ms since the run started). */
  readonly onResult?: (tier: string, status: number | null, latencyMs: number, sentAtMs: number) => void;
}

export interface TierLoadStats extends GroupSnapshot {
  /** 2xx answers per second of the step. */
  readonly goodputPerSec: number;
}

export interface OfferedLoadResult {
  readonly ratePerSec: number;
  readonly durationMs: number;
  readonly elapsedMs: number;
  readonly sent: number;
  readonly completed: number;
  readonly skipped: number;
  /** Requests sent per second (should equal ratePerSec unless the generator fell behind or skipped). */
  readonly offeredRatePerSec: number;
  /** Answers received per second. */
  readonly achievedRatePerSec: number;
  readonly tiers: Readonly<Record<string, TierLoadStats>>;
}

function defaultLoadRequest(rng: Rng): { method: string; target: string; body?: string | null } {
  return { method: 'GET', target: `/api/items/${nextExistingItem(popularItem(rng))}` };
}

/** One step of offered load: `ratePerSec` for `durationMs`, tiers mixed by share. */
export async function runOfferedLoad(options: OfferedLoadOptions): Promise<OfferedLoadResult> {
  if (!(options.ratePerSec > 0)) throw new RangeError('ratePerSec must be > 0');
  if (options.tiers.length === 0 || options.tiers.some((t) => t.apiKeys.length === 0)) throw new RangeError('every tier needs at least one API key');
  const maxInFlight = options.maxInFlight ?? 512;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const rng = new Rng(options.seed ?? 'offered-load').fork(`rate/${options.ratePerSec}`);
  const ips = new IpAllocator();
  const ipRng = new Rng(options.seed ?? 'offered-load').fork('ips');
  const ipOf = new Map<string, string>();
  for (const t of options.tiers) for (const key of t.apiKeys) if (!ipOf.has(key)) ipOf.set(key, ips.next(ipRng));
  const mix = new WeightedTable(options.tiers.map((t) => [t, t.share] as const));
  const stats = new Map(options.tiers.map((t) => [t.tier, new GroupStats()]));
  const sender = new HttpSender(options.baseUrl, {
    maxInFlight,
    connections: options.connections ?? Math.min(maxInFlight, 64),
    timeoutMs,
    forwardedFor: options.forwardedFor ?? true,
    headers: {},
  });
  const makeRequest = options.request ?? defaultLoadRequest;
  function* arrivals(): Iterator<HttpRequestSpec & { tier: string }> {
    for (;;) {
      const t = mix.sample(rng);
      const apiKey = rng.pick(t.apiKeys);
      const r = makeRequest(rng, t.tier);
      yield { method: r.method, target: r.target, body: r.body ?? null, apiKey, ip: ipOf.get(apiKey)!, userAgent: 'ratewarden-load/1', tier: t.tier };
    }
  }
  const gap = 1000 / options.ratePerSec;
  let dueOf = (_r: unknown, i: number): number => i * gap;
  let durationMs = options.durationMs;
  const schedule = options.schedule;
  if (schedule && schedule.length > 0) {
    if (schedule.some((s) => !(s.ratePerSec > 0) || !(s.durationMs > 0))) throw new RangeError('every schedule step needs ratePerSec > 0 and durationMs > 0');
    durationMs = schedule.reduce((sum, s) => sum + s.durationMs, 0);
    let step = 0;
    let stepStart = 0;
    let firstIndex = 0;
    // indexes only grow, so the current step is found by walking forward
    dueOf = (_r, i) => {
      for (;;) {
        const s = schedule[step];
        if (s === undefined) return durationMs;
        const due = stepStart + ((i - firstIndex) * 1000) / s.ratePerSec;
        if (due < stepStart + s.durationMs) return due;
        stepStart += s.durationMs;
        firstIndex = i;
        step++;
      }
    };
  }
  const onResult = options.onResult;
  const runStart = performance.now();
  const elapsedMs = await runPaced(
    arrivals(),
    dueOf,
    (r) => {
      if (!onResult) return sender.send(r, stats.get(r.tier)!);
      const sentAt = performance.now() - runStart;
      return sender.send(r, stats.get(r.tier)!, (status, latency) => onResult(r.tier, status, latency, sentAt));
    },
    durationMs,
    { stopped: false, wake: null },
  );
  await sender.close(timeoutMs);
  const tiers: Record<string, TierLoadStats> = {};
  let sent = 0;
  let completed = 0;
  let skipped = 0;
  for (const [tier, g] of stats) {
    const s = g.snapshot();
    let ok = 0;
    for (const [status, n] of Object.entries(s.byStatus)) if (status.startsWith('2')) ok += n;
    tiers[tier] = { ...s, goodputPerSec: perSec(ok, elapsedMs) };
    sent += s.sent;
    completed += s.completed;
    skipped += s.skipped;
  }
  return {
    ratePerSec: options.ratePerSec,
    durationMs,
    elapsedMs: Math.round(elapsedMs),
    sent,
    completed,
    skipped,
    offeredRatePerSec: perSec(sent, elapsedMs),
    achievedRatePerSec: perSec(completed, elapsedMs),
    tiers,
  };
}

/** The load experiment: offered-load steps one after another (e.g. 100, 200, 400, 800 /s). */
export async function runLoadSteps(
  options: Omit<OfferedLoadOptions, 'ratePerSec' | 'durationMs'>,
  steps: ReadonlyArray<{ ratePerSec: number; durationMs: number }>,
  onStep?: (result: OfferedLoadResult) => void,
): Promise<OfferedLoadResult[]> {
  const results: OfferedLoadResult[] = [];
  for (const step of steps) {
    const result = await runOfferedLoad({ ...options, ...step });
    onStep?.(result);
    results.push(result);
  }
  return results;
}
