/**
 * Added latency at a fixed request rate: the proxy under test and the upstream alone are driven by
 * the same open-loop generator (rateClient.ts: latency from each request's scheduled send time, so
 * a stall is never hidden) at the same rate, alternately, several times on warm processes; the
 * figures are medians over the repetitions, and "added" is the median of the per-repetition
 * differences (each pair ran back to back, so a noisy neighbour disturbs both alike).
 *
 * As a command (the latency study on its own, without the peers):
 *   node dist/bench/sidecar/latency.js [--cases norules,memory,redis,redis+kafka] [--rate N]
 *                                      [--reps 5] [--seconds 5] [--node-flags=--max-semi-space-size=32]
 * Without --rate each case runs at half of its own maximum (wrk, closed loop). Each case is measured
 * beside the floor of any Node proxy at the same rate (servers.ts `undici-proxy`), and with the CPU
 * the case and the upstream spent per request: the share of their core the rate keeps busy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { adminPorts, benchServer, cpuMicros, histogramPercentile, infraEnv, pinning, ratewarden, redisServerPid, RULE, runRate, runWrk, scrapeHistogram, scrapeValues, type Proc } from './procs.js';
import { privateKafka, privateRedis, type PrivateService } from './privateInfra.js';

export interface Percentiles {
  readonly p50_ms: number;
  readonly p99_ms: number;
}

export interface FixedRateResult {
  readonly rate: number;
  /** Medians over the repetitions. */
  readonly direct: Percentiles;
  readonly via: Percentiles;
  /** Medians of the per-repetition differences via − direct. */
  readonly added: Percentiles;
  /**
   * The floor at the same rate, when a floor proxy was given (servers.ts `undici-proxy`: node:http
   * + undici and nothing else), run in the same repetitions: its medians and its added latency.
   */
  readonly floor: { readonly latency: Percentiles; readonly added: Percentiles } | null;
  /**
   * ratewarden's own decision time (arrival → verdict: identity, engine, the store round trip) from
   * its decision_seconds histogram over the measured runs — free of the generator's jitter; bucket
   * bounds are 50 µs … 250 ms, interpolated. Null for other proxies.
   */
  readonly decision: Percentiles | null;
  /**
   * CPU per request over the via runs (warm-ups included) of the proxy and of the upstream, and the
   * share of their core they kept busy at this rate: (proxy + upstream µs) × rate. Null without pids.
   */
  readonly cpu: { readonly viaUs: number; readonly upstreamUs: number; readonly coreBusy: number } | null;
  /** ratewarden on Redis: decisions per script call over the via runs (its store_*_total counters). */
  readonly decisionsPerStoreCall: number | null;
  /** Failed requests (5xx or transport errors) over the runs, warm-ups included, by target: percentiles of a run with errors mislead. */
  readonly errors: { readonly via: number; readonly direct: number; readonly floor: number };
  /** Every repetition, for the record. */
  readonly reps: ReadonlyArray<{ direct: Percentiles; via: Percentiles; floor?: Percentiles }>;
}

export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Each run's unmeasured start: a new generator's cold start must not be read as the proxy's p99. */
export const RATE_WARMUP_SECONDS = 3;

export interface FixedRateOptions {
  readonly reps?: number;
  readonly seconds?: number;
  readonly warmSeconds?: number;
  /** A floor proxy to the same upstream (servers.ts `undici-proxy`), measured in the same repetitions. */
  readonly floor?: string;
  /** Processes whose CPU is read over the via runs: the proxy under test and the upstream. */
  readonly pids?: { readonly via?: number; readonly upstream?: number };
}

/**
 * `via` and `direct` (and the floor, when given) at `rate` requests/s: one warm-up run of each (JIT,
 * connection pools, Redis and Kafka connections), then `reps` back-to-back rounds of `seconds` each,
 * the order reversed every other round with the upstream alone in the middle, next to both.
 */
export async function fixedRateLatency(via: string, direct: string, rate: number, opts: FixedRateOptions = {}): Promise<FixedRateResult> {
  const reps = opts.reps ?? 5;
  const seconds = opts.seconds ?? 5;
  const floor = opts.floor ?? null;
  await runRate(via, rate, opts.warmSeconds ?? 3);
  await runRate(direct, rate, Math.max(1, (opts.warmSeconds ?? 3) - 1));
  if (floor !== null) await runRate(floor, rate, Math.max(1, (opts.warmSeconds ?? 3) - 1));
  const runs: Array<{ direct: Percentiles; via: Percentiles; floor?: Percentiles }> = [];
  const admin = adminPorts.get(Number(new URL(via).port));
  const decisionName = 'ratewarden_decision_seconds';
  const before = await scrapeHistogram(admin, decisionName);
  const STORE = ['ratewarden_store_calls_total', 'ratewarden_store_decisions_total'] as const;
  const storeBefore = await scrapeValues(admin, STORE);
  let viaCpu = 0;
  let upstreamCpu = 0;
  let viaSent = 0;
  const errors = { via: 0, direct: 0, floor: 0 };
  const run = async (url: string): Promise<Percentiles> => {
    const measureCpu = url === via && opts.pids !== undefined;
    const v0 = measureCpu ? cpuMicros(opts.pids!.via) : 0;
    const u0 = measureCpu ? cpuMicros(opts.pids!.upstream) : 0;
    const r = await runRate(url, rate, seconds, RATE_WARMUP_SECONDS);
    errors[url === via ? 'via' : url === direct ? 'direct' : 'floor'] += r.errors;
    if (measureCpu) {
      viaCpu += cpuMicros(opts.pids!.via) - v0;
      upstreamCpu += cpuMicros(opts.pids!.upstream) - u0;
      viaSent += r.sent;
    }
    return { p50_ms: r.p50_ms, p99_ms: r.p99_ms };
  };
  for (let i = 0; i < reps; i++) {
    const order = floor === null ? [via, direct] : [via, direct, floor];
    if (i % 2 === 1) order.reverse();
    const got = new Map<string, Percentiles>();
    for (const url of order) got.set(url, await run(url));
    runs.push({ direct: got.get(direct)!, via: got.get(via)!, ...(floor !== null ? { floor: got.get(floor)! } : {}) });
  }
  const after = await scrapeHistogram(admin, decisionName);
  const storeAfter = await scrapeValues(admin, STORE);
  const storeCalls = (storeAfter?.get(STORE[0]) ?? NaN) - (storeBefore?.get(STORE[0]) ?? NaN);
  const storeDecisions = (storeAfter?.get(STORE[1]) ?? NaN) - (storeBefore?.get(STORE[1]) ?? NaN);
  const decisionsPerStoreCall = storeCalls > 0 ? Math.round((storeDecisions / storeCalls) * 100) / 100 : null;
  const decision = before && after ? { p50_ms: round(histogramPercentile(before, after, 50)), p99_ms: round(histogramPercentile(before, after, 99)) } : null;
  const medians = (pick: (r: (typeof runs)[number]) => Percentiles | undefined): Percentiles => ({
    p50_ms: round(median(runs.map((r) => pick(r)?.p50_ms ?? NaN))),
    p99_ms: round(median(runs.map((r) => pick(r)?.p99_ms ?? NaN))),
  });
  const addedOver = (pick: (r: (typeof runs)[number]) => Percentiles | undefined): Percentiles => ({
    p50_ms: round(median(runs.map((r) => (pick(r)?.p50_ms ?? NaN) - r.direct.p50_ms))),
    p99_ms: round(median(runs.map((r) => (pick(r)?.p99_ms ?? NaN) - r.direct.p99_ms))),
  });
  const cpu =
    opts.pids !== undefined && viaSent > 0 && Number.isFinite(viaCpu)
      ? { viaUs: round(viaCpu / viaSent), upstreamUs: round(upstreamCpu / viaSent), coreBusy: Math.round((((viaCpu + upstreamCpu) / viaSent) * rate) / 1e4) / 100 }
      : null;
  return {
    rate,
    decision,
    direct: medians((r) => r.direct),
    via: medians((r) => r.via),
    added: addedOver((r) => r.via),
    floor: floor === null ? null : { latency: medians((r) => r.floor), added: addedOver((r) => r.floor) },
    cpu,
    decisionsPerStoreCall,
    errors,
    reps: runs,
  };
}

/** CPU µs per request of `pids` over one closed-loop run (NaN where /proc is not readable). */
export async function maxRateWithCpu(
  url: string,
  seconds: number,
  connections: number,
  pids: ReadonlyArray<number | undefined>,
): Promise<{ rps: number; p50: number; p99: number; non2xx: number; cpuUs: number[]; requests: number; cpuTotalUs: number[] }> {
  const before = pids.map(cpuMicros);
  const r = await runWrk(url, seconds, connections);
  const after = pids.map(cpuMicros);
  const requests = r.rps * seconds;
  const cpuTotalUs = pids.map((_, i) => after[i]! - before[i]!);
  return { ...r, cpuUs: cpuTotalUs.map((us) => round(us / requests)), requests, cpuTotalUs };
}

const CASES: Record<string, { policy: (tag: string) => string; redis: boolean; kafka: boolean }> = {
  norules: { policy: () => 'version: 1\nrules: []\n', redis: false, kafka: false },
  memory: { policy: () => `version: 1\nstore: { kind: memory }\nrules:\n${RULE}`, redis: false, kafka: false },
  'memory+kafka': { policy: () => `version: 1\nstore: { kind: memory }\nrules:\n${RULE}`, redis: false, kafka: true },
  redis: { policy: (tag) => `version: 1\nstore: { kind: redis, failMode: open, keyPrefix: "${tag}:", timeout: 1s }\nrules:\n${RULE}`, redis: true, kafka: false },
  'redis+kafka': { policy: (tag) => `version: 1\nstore: { kind: redis, failMode: open, keyPrefix: "${tag}:", timeout: 1s }\nrules:\n${RULE}`, redis: true, kafka: true },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: 'memory,redis+kafka' },
      rate: { type: 'string' },
      reps: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '50' },
      // flags for the sidecar's node process, e.g. --node-flags=--max-semi-space-size=32 (with "=": the value starts with --)
      'node-flags': { type: 'string', default: '' },
    },
  });
  const log = (line: string): void => void process.stdout.write(line + '\n');
  const infra = infraEnv();
  const tag = `bench-lat-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'rw-bench-latency-'));
  const procs: Proc[] = [];
  const services: PrivateService[] = [];
  try {
    // Redis and Kafka of our own on the load generator's CPU when possible (privateInfra.ts)
    const wants = values.cases!.split(',');
    if (pinning && wants.some((c) => CASES[c]?.redis)) {
      const r = await privateRedis(1, dir).catch(() => null);
      if (r) services.push(r), (infra.REDIS_URL = r.url);
    }
    if (pinning && wants.some((c) => CASES[c]?.kafka)) {
      const k = await privateKafka(1, dir).catch(() => null);
      if (k) services.push(k), (infra.KAFKA_BROKERS = k.url);
    }
    log(`Redis ${infra.REDIS_URL ?? 'none'}, Kafka ${infra.KAFKA_BROKERS ?? 'none'}${services.length ? ' (private, on CPU 1)' : ''}`);
    const redisPid = await redisServerPid(infra.REDIS_URL);
    const upstream = await benchServer('upstream', ['--port', '0']);
    procs.push(upstream);
    const direct = `http://127.0.0.1:${upstream.port}/`;
    const floorProc = await benchServer('undici-proxy', ['--upstream', direct.slice(0, -1)]);
    procs.push(floorProc);
    const floor = `http://127.0.0.1:${floorProc.port}/`;
    log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    for (const name of values.cases!.split(',')) {
      const c = CASES[name];
      if (!c) throw new Error(`unknown case ${name} (${Object.keys(CASES).join(', ')})`);
      const env: Record<string, string> = { RW_CTL_PREFIX: `${tag}:ctl` };
      if (c.redis) env.REDIS_URL = infra.REDIS_URL ?? '';
      if (c.kafka) Object.assign(env, { KAFKA_BROKERS: infra.KAFKA_BROKERS ?? '', RW_EVENTS_TOPIC: `${tag}.events` });
      const p = await ratewarden(c.policy(tag), direct.slice(0, -1), env, dir, values['node-flags']!.split(' ').filter(Boolean));
      procs.push(p);
      const url = `http://127.0.0.1:${p.port}/`;
      let rate = Number(values.rate);
      if (!Number.isFinite(rate) || rate <= 0) {
        await runWrk(url, 2, Number(values.connections));
        const max = await maxRateWithCpu(url, 5, Number(values.connections), [p.child.pid, redisPid]);
        log(`${name}: max ${Math.round(max.rps)} req/s (wrk -c${values.connections}), CPU ${max.cpuUs[0]} µs/request${c.redis ? `, Redis ${max.cpuUs[1]} µs/request` : ''}`);
        rate = Math.round(max.rps / 2);
      }
      const r = await fixedRateLatency(url, direct, rate, { reps: Number(values.reps), seconds: Number(values.seconds), floor, pids: { via: p.child.pid, upstream: upstream.child.pid } });
      log(
        `${name} @ ${rate} req/s: direct p50 ${r.direct.p50_ms} p99 ${r.direct.p99_ms} | via p50 ${r.via.p50_ms} p99 ${r.via.p99_ms} | added p50 ${r.added.p50_ms} p99 ${r.added.p99_ms} ms` +
          (r.floor ? ` | bare undici proxy added p50 ${r.floor.added.p50_ms} p99 ${r.floor.added.p99_ms} ms` : '') +
          (r.decision ? ` | decision p50 ${r.decision.p50_ms} p99 ${r.decision.p99_ms} ms` : '') +
          (r.cpu ? ` | CPU ${r.cpu.viaUs} + upstream ${r.cpu.upstreamUs} µs/request, their core ${Math.round(r.cpu.coreBusy * 100)}% busy` : '') +
          (r.decisionsPerStoreCall !== null ? ` | ${r.decisionsPerStoreCall} decisions per Redis call` : '') +
          (r.errors.via + r.errors.direct + r.errors.floor > 0 ? ` | FAILED REQUESTS via ${r.errors.via}, direct ${r.errors.direct}, floor ${r.errors.floor}` : '') +
          `  [reps added p99: ${r.reps.map((x) => round(x.via.p99_ms - x.direct.p99_ms)).join(', ')}${r.floor ? `; floor ${r.reps.map((x) => round(x.floor!.p99_ms - x.direct.p99_ms)).join(', ')}` : ''}]`,
      );
      await p.stop();
      procs.pop();
    }
    log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
    for (const svc of services) await svc.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
