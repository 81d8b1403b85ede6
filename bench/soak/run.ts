/**
 * Soak: a real sidecar (Redis store and Kafka events when the infrastructure is up) under steady
 * open-loop traffic at half of its measured maximum rate for a bounded time, sampling its resident
 * memory (/proc), V8 heap used and event-loop lag (prom-client default metrics on the admin
 * listener) and its event pipeline over time. After the warm-up (the first 20 % of the run, at
 * least one minute when the run is long enough) it checks that nothing grows beyond the stated
 * bounds: the median of the last third of the samples against the median of the first third.
 *
 *   node --import tsx bench/soak/run.ts [--minutes 10] [--rate R] [--every S] [--no-infra]
 *   node dist/bench/run.js soak --minutes 1          (the quick mode, through the bench CLI)
 *
 * Prints progress on stderr and one markdown table on stdout; writes bench/out/soak-<N>m.json;
 * exits 1 when a bound is exceeded. Traffic stays on 127.0.0.1.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { linearRegression } from 'simple-statistics';
import { infraEnv, NODE_ARGS, REPO, sleep, startSidecar, startUpstream, wrkMaxRate, writePolicy, type Child } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const IS_TS = import.meta.url.endsWith('.ts');

/** Runs shorter than this are the quick mode (`--minutes 1`): the bounds are reported, not enforced. */
export const QUICK_MINUTES = 5;

/** The bounds a soak must stay within after its warm-up (late median − early median). */
export const BOUNDS = {
  rssGrowthMiB: 32,
  heapGrowthMiB: 16,
  /** Median of the sampled event-loop lag p99 after the warm-up. */
  lagP99Ms: 25,
} as const;

export interface SoakSample {
  readonly t: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly lagP99Ms: number;
  readonly rps: number;
  readonly p99Ms: number;
  readonly limited: number;
  readonly errors: number;
  readonly eventsBuffered: number;
  readonly eventsSent: number;
  readonly eventsDropped: number;
  readonly storeErrors: number;
}

export interface SoakResult {
  readonly minutes: number;
  readonly maxRps: number;
  readonly rate: number;
  readonly redis: boolean;
  readonly kafka: boolean;
  readonly warmupSeconds: number;
  readonly samples: readonly SoakSample[];
  readonly growth: { readonly rssMiB: number; readonly heapUsedMiB: number; readonly rssMiBPerMin: number; readonly heapMiBPerMin: number };
  readonly lagP99MedianMs: number;
  readonly errors: number;
  readonly eventsDropped: number;
  readonly bounds: typeof BOUNDS;
  readonly violations: readonly string[];
}

export interface SoakOptions {
  readonly minutes: number;
  readonly rate?: number;
  readonly everySeconds?: number;
  readonly infra?: boolean;
  readonly log?: (line: string) => void;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const seconds = Math.max(30, Math.round(opts.minutes * 60));
  const every = opts.everySeconds ?? Math.max(5, Math.round(seconds / 40));
  if (opts.infra !== false) {
    const r = spawnSync('bash', [join(REPO, 'scripts/infra/up.sh')], { cwd: REPO, stdio: ['ignore', 2, 2] });
    if (r.status !== 0) log('soak: scripts/infra/up.sh failed; running without what it could not start');
  }
  const env = infraEnv();
  const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const prefix = `soak-${suffix}`;
  const topic = `ratewarden.soak-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), 'rw-soak-'));
  const redis = Boolean(env.REDIS_URL);
  const kafka = Boolean(env.KAFKA_BROKERS);
  const policy = `version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: ${redis ? 'redis' : 'memory'}, failMode: open, keyPrefix: ${prefix} }
rules:
  - { id: global, key: [global], algorithm: token-bucket, rate: 1000000/s, burst: 1000000 }
  - { id: per-key, match: { path: "/api/**" }, key: [apiKey], algorithm: sliding-window-counter, limit: 600, window: 60s }
`;
  const procs: Child[] = [];
  let load: ReturnType<typeof spawn> | null = null;
  try {
    const upstream = await startUpstream();
    procs.push(upstream);
    const sidecarEnv: Record<string, string> = { RW_CTL_PREFIX: `soak-ctl-${suffix}`, RW_EVENTS_TOPIC: topic };
    if (redis) sidecarEnv.REDIS_URL = env.REDIS_URL!;
    if (kafka) sidecarEnv.KAFKA_BROKERS = env.KAFKA_BROKERS!;
    const sidecar = await startSidecar(writePolicy(dir, policy), `http://127.0.0.1:${String(upstream.ready.port)}`, sidecarEnv);
    procs.push(sidecar);
    const pid = sidecar.pid;
    const url = String(sidecar.ready.listen);
    const adminUrl = `${String(sidecar.ready.admin)}/metrics`;
    log(`soak: sidecar pid ${pid} (${redis ? 'Redis' : 'memory'} store, events ${kafka ? 'to Kafka' : 'off'})`);

    let maxRps = NaN;
    let rate = opts.rate ?? NaN;
    if (!(rate > 0)) {
      log('soak: measuring the maximum rate (wrk, 10 s, 64 connections)');
      const measured = await wrkMaxRate(`${url}/health`, 10, 64);
      if (measured === null) throw new Error('wrk is not installed (scripts/ensure-bench-tools.sh, or apt-get install wrk); or pass --rate');
      maxRps = measured;
      rate = Math.max(50, Math.round(maxRps / 2));
      await sleep(2_000);
    }
    log(`soak: ${seconds} s at ${rate} req/s${Number.isFinite(maxRps) ? ` (half of ${Math.round(maxRps)})` : ''}, a sample every ${every} s`);

    const child = spawn(process.execPath, [...NODE_ARGS, join(HERE, 'load' + (IS_TS ? '.ts' : '.js')), url, '--rate', String(rate), '--seconds', String(seconds), '--every', String(every)], { stdio: ['ignore', 'pipe', 'inherit'] });
    load = child;
    const loadLines: Array<{ t: number; sent: number; ok: number; limited: number; errors: number; p99_ms: number }> = [];
    let done = false;
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as { done?: boolean };
        buf = buf.slice(nl + 1);
        if (line.done) done = true;
        else loadLines.push(line as (typeof loadLines)[number]);
      }
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

    const samples: SoakSample[] = [];
    const started = performance.now();
    let seen = 0;
    while (!done) {
      await Promise.race([sleep(500), exited]);
      if (loadLines.length === seen && !done) continue;
      for (; seen < loadLines.length; seen++) {
        const l = loadLines[seen]!;
        const text = await (await fetch(adminUrl)).text();
        const s: SoakSample = {
          t: l.t,
          rssMiB: r1(rssMiB(pid)),
          heapUsedMiB: r1(metric(text, 'ratewarden_sidecar_nodejs_heap_size_used_bytes') / 1024 / 1024),
          lagP99Ms: r1(metric(text, 'ratewarden_sidecar_nodejs_eventloop_lag_p99_seconds') * 1000),
          rps: Math.round(l.sent / every),
          p99Ms: r1(l.p99_ms),
          limited: l.limited,
          errors: l.errors,
          eventsBuffered: metric(text, 'ratewarden_events_buffered'),
          eventsSent: metric(text, 'ratewarden_events_sent_total'),
          eventsDropped: metric(text, 'ratewarden_events_dropped_total'),
          storeErrors: metric(text, 'ratewarden_store_errors_total'),
        };
        samples.push(s);
        log(`soak: t=${s.t}s rss ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, lag p99 ${s.lagP99Ms} ms, ${s.rps} req/s, p99 ${s.p99Ms} ms, errors ${s.errors}`);
      }
      if (performance.now() - started > (seconds + 120) * 1000) throw new Error('the load generator did not finish');
    }
    await exited;
    load = null;

    const warmupSeconds = Math.min(Math.max(seconds * 0.2, Math.min(60, seconds * 0.4)), seconds * 0.5);
    const steady = samples.filter((s) => s.t > warmupSeconds && s.t <= seconds);
    const third = Math.max(1, Math.floor(steady.length / 3));
    const early = steady.slice(0, third);
    const late = steady.slice(-third);
    const growth = (pick: (s: SoakSample) => number): number => r1(median(late.map(pick)) - median(early.map(pick)));
    const slope = (pick: (s: SoakSample) => number): number => (steady.length >= 2 ? r1(linearRegression(steady.map((s) => [s.t / 60, pick(s)])).m) : NaN);
    const errors = samples.reduce((sum, s) => sum + s.errors, 0);
    const last = samples[samples.length - 1];
    const result: SoakResult = {
      minutes: seconds / 60,
      maxRps: Math.round(maxRps),
      rate,
      redis,
      kafka,
      warmupSeconds: Math.round(warmupSeconds),
      samples,
      growth: { rssMiB: growth((s) => s.rssMiB), heapUsedMiB: growth((s) => s.heapUsedMiB), rssMiBPerMin: slope((s) => s.rssMiB), heapMiBPerMin: slope((s) => s.heapUsedMiB) },
      lagP99MedianMs: r1(median(steady.map((s) => s.lagP99Ms))),
      errors,
      eventsDropped: last?.eventsDropped ?? NaN,
      bounds: BOUNDS,
      violations: [],
    };
    const v: string[] = [];
    // a run shorter than QUICK_MINUTES is the quick mode: its warm-up is too short to judge growth
    const judged = seconds >= QUICK_MINUTES * 60;
    if (!judged) log(`soak: a run under ${QUICK_MINUTES} min only checks the machinery; the growth bounds are informational`);
    if (judged && !(result.growth.rssMiB <= BOUNDS.rssGrowthMiB)) v.push(`RSS grew ${result.growth.rssMiB} MiB after the warm-up (bound ${BOUNDS.rssGrowthMiB})`);
    if (judged && !(result.growth.heapUsedMiB <= BOUNDS.heapGrowthMiB)) v.push(`heap used grew ${result.growth.heapUsedMiB} MiB after the warm-up (bound ${BOUNDS.heapGrowthMiB})`);
    if (judged && !(result.lagP99MedianMs <= BOUNDS.lagP99Ms)) v.push(`event-loop lag p99 median ${result.lagP99MedianMs} ms (bound ${BOUNDS.lagP99Ms})`);
    if (errors > 0) v.push(`${errors} failed requests`);
    if (result.eventsDropped > 0) v.push(`${result.eventsDropped} events dropped`);
    return { ...result, violations: v };
  } finally {
    load?.kill('SIGKILL');
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await cleanup(env, prefix, topic, log);
  }
}

/** Removes the soak's Redis keys and Kafka topic from the shared services. */
async function cleanup(env: Record<string, string>, prefix: string, topic: string, log: (l: string) => void): Promise<void> {
  try {
    if (env.REDIS_URL) {
      const { Redis } = await import('ioredis');
      const r = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await r.connect();
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `{${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
      r.disconnect();
    }
    if (env.KAFKA_BROKERS) {
      const { Kafka, logLevel } = await import('kafkajs');
      const admin = new Kafka({ clientId: 'soak-cleanup', brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  } catch (err) {
    log(`soak: clean-up failed: ${(err as Error).message}`);
  }
}

export function soakMarkdown(r: SoakResult): string {
  const lines = [
    `### Soak: ${r.minutes} min at ${r.rate} req/s${r.maxRps > 0 ? ` (half of the measured maximum, ${r.maxRps} req/s)` : ''}; store ${r.redis ? 'Redis' : 'memory'}, events ${r.kafka ? 'Kafka' : 'off'}`,
    '',
    '| t (s) | RSS (MiB) | heap used (MiB) | event-loop lag p99 (ms) | req/s | p99 (ms) | 429 | errors | events buffered | events sent | dropped | store errors |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.samples.map((s) => `| ${s.t} | ${s.rssMiB} | ${s.heapUsedMiB} | ${s.lagP99Ms} | ${s.rps} | ${s.p99Ms} | ${s.limited} | ${s.errors} | ${s.eventsBuffered} | ${s.eventsSent} | ${s.eventsDropped} | ${s.storeErrors} |`),
    '',
    `After the ${r.warmupSeconds} s warm-up (median of the last third − median of the first third): RSS ${signed(r.growth.rssMiB)} MiB ` +
      `(bound ${r.bounds.rssGrowthMiB}; trend ${signed(r.growth.rssMiBPerMin)} MiB/min), heap used ${signed(r.growth.heapUsedMiB)} MiB (bound ${r.bounds.heapGrowthMiB}; trend ${signed(r.growth.heapMiBPerMin)} MiB/min), ` +
      `event-loop lag p99 median ${r.lagP99MedianMs} ms (bound ${r.bounds.lagP99Ms}); ${r.errors} failed requests, ${r.eventsDropped} events dropped.`,
    r.violations.length ? `**Bounds exceeded:** ${r.violations.join('; ')}` : r.minutes < QUICK_MINUTES ? `Quick run (under ${QUICK_MINUTES} min): the growth bounds are informational.` : '**Within bounds.**',
  ];
  return lines.join('\n');
}

function signed(x: number): string {
  return x >= 0 ? `+${x}` : String(x);
}

/** CLI: `node --import tsx bench/soak/run.ts [--minutes N] [--rate R] [--every S] [--no-infra]`. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { minutes: { type: 'string', default: '10' }, rate: { type: 'string' }, every: { type: 'string' }, 'no-infra': { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const result = await runSoak({
    minutes: Number(values.minutes),
    ...(values.rate ? { rate: Number(values.rate) } : {}),
    ...(values.every ? { everySeconds: Number(values.every) } : {}),
    infra: !values['no-infra'],
  });
  const out = join(REPO, 'bench', 'out');
  mkdirSync(out, { recursive: true });
  const file = join(out, `soak-${result.minutes}m.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(soakMarkdown(result) + '\n');
  process.stderr.write(`soak: wrote ${file}\n`);
  return result.violations.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
