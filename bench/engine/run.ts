/**
 * Enforcement engine benchmark: decisions per second and decision latency (p50/p99), measured in
 * one run next to its references:
 *
 *   memory store, 1 and 5 rules           one core, one decision at a time (await each), 10k keys
 *   Redis store, 1 and 5 rules            256 decisions in flight, 10k keys (batched EVALSHA)
 *   rate-limiter-flexible RateLimiterRedis 256 consume() in flight, 10k keys (ioredis defaults, and
 *                                          with auto-pipelining)
 *   redis-benchmark EVALSHA               the token-bucket script alone: 50 clients, unpipelined and
 *                                          16 pipelined — the ceiling of one-call-per-decision designs
 *   global-leased vs shared token bucket  8 engines (own connections) on one key, 256 in flight:
 *                                          throughput and measured over-admission
 *
 * Limits are set high except in the leased case: this measures the cost of deciding. Printed as a
 * table; `run()` also returns the rows. Not a test: figures depend on the machine.
 *
 *   node --import tsx bench/engine/run.ts [--quick]      node dist/bench/engine/run.js [--quick]
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { parsePolicy, type Policy } from '../../models/policy/index.js';
import { createEngine, type Engine, type RequestFacts } from '../../sidecar/engine/index.js';
import { SINGLE_DECISION_TOKEN_BUCKET } from './singleDecisionScript.js';
import { infraEnv } from '../machine.js';

export interface EngineBenchRow {
  readonly name: string;
  readonly decisionsPerSec: number;
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly note?: string;
}

export interface EngineBenchOptions {
  readonly quick?: boolean;
  /** Seconds per measured case (default 5; quick 1). */
  readonly seconds?: number;
  /** Requests of the unpipelined redis-benchmark run, twice as many pipelined (default 200k; quick 20k). */
  readonly redisBenchmarkRequests?: number;
  readonly redisUrl?: string;
  readonly log?: (line: string) => void;
}

const KEYS = 10_000;
const IN_FLIGHT = 256;
const HUGE = 1_000_000_000;

function policyOf(yaml: string): Policy {
  const r = parsePolicy(`version: 1\nidentity: { apiKey: { header: x-api-key } }\n${yaml}`);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  return r.policy;
}

function rules(n: 1 | 5): string {
  const all = [
    `{ id: tb, key: [apiKey], algorithm: token-bucket, rate: ${HUGE}/s, burst: ${HUGE} }`,
    `{ id: fw, key: [apiKey], algorithm: fixed-window, limit: ${HUGE}, window: 60s }`,
    `{ id: swc, key: [apiKey], algorithm: sliding-window-counter, limit: ${HUGE}, window: 60s }`,
    `{ id: lb, key: [apiKey], algorithm: leaky-bucket, rate: ${HUGE}/s, burst: ${HUGE} }`,
    `{ id: swl, key: [apiKey], algorithm: sliding-window-log, limit: ${HUGE}, window: 1s }`,
  ];
  return `rules:\n${all
    .slice(0, n)
    .map((r) => `  - ${r}\n`)
    .join('')}`;
}

function factsFor(n: number): RequestFacts[] {
  return Array.from({ length: n }, (_, i) => {
    const apiKeyId = i.toString(16).padStart(16, '0');
    const identities = [`apiKey:${apiKeyId}`, `ip:10.0.${(i >> 8) & 255}.${i & 255}`];
    return {
      method: 'GET',
      path: '/api/items',
      host: 'api.example.com',
      ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
      apiKeyId,
      user: null,
      tier: 'free',
      clientKey: identities[0]!,
      identities,
      header: () => undefined,
    };
  });
}

class Latencies {
  private data = new Float64Array(1 << 16);
  private n = 0;
  add(ms: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = ms;
  }
  percentile(p: number): number | null {
    if (this.n === 0) return null;
    const sorted = this.data.slice(0, this.n).sort();
    return sorted[Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1))]!;
  }
}

function round(x: number | null, digits = 3): number | null {
  if (x === null) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** One decision at a time on one core (each awaited); latency sampled on every 8th decision. */
async function sequential(decide: (i: number) => Promise<unknown>, seconds: number): Promise<{ rate: number; lat: Latencies }> {
  const lat = new Latencies();
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  let i = 0;
  for (;;) {
    for (let j = 0; j < 1024; j++, i++) {
      if ((i & 7) === 0) {
        const t0 = performance.now();
        await decide(i);
        lat.add(performance.now() - t0);
      } else await decide(i);
    }
    if (performance.now() >= end) break;
  }
  return { rate: (i / (performance.now() - started)) * 1000, lat };
}

/** `inFlight` concurrent closed loops: each issues its next decision when the previous one resolves. */
async function closedLoop(decide: (i: number) => Promise<unknown>, inFlight: number, seconds: number): Promise<{ rate: number; lat: Latencies; n: number; elapsedMs: number }> {
  const lat = new Latencies();
  let i = 0;
  let n = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      await decide(i++);
      const t1 = performance.now();
      lat.add(t1 - t0);
      n++;
      if (t1 >= end) return;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - started;
  return { rate: (n / elapsedMs) * 1000, lat, n, elapsedMs };
}

function redisBenchmark(url: string, pipeline: number, requests: number): EngineBenchRow {
  const u = new URL(url);
  const script = SINGLE_DECISION_TOKEN_BUCKET;
  const load = spawnSync('redis-cli', ['-h', u.hostname, '-p', u.port || '6379', 'SCRIPT', 'LOAD', script.source], { encoding: 'utf8' });
  if (load.status !== 0) throw new Error(`redis-cli SCRIPT LOAD failed: ${load.stderr}`);
  // one token-bucket decision per call, 10k random keys
  const args = ['-h', u.hostname, '-p', u.port || '6379', '-n', String(requests), '-c', '50', '-P', String(pipeline), '-r', String(KEYS), '--csv'];
  const cmd = ['EVALSHA', script.sha, '1', '{rb:tb:__rand_int__}:tb', String(HUGE), '1000', String(HUGE), '1'];
  const r = spawnSync('redis-benchmark', [...args, ...cmd], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr || r.error?.message}`);
  const line = r.stdout.trim().split('\n').pop()!;
  const cols = line.split('","').map((c) => c.replace(/"/g, ''));
  return {
    name: `redis-benchmark EVALSHA token-bucket script, ${pipeline === 1 ? 'unpipelined' : `${pipeline} pipelined`} (50 clients)`,
    decisionsPerSec: Math.round(Number(cols[1])),
    p50_ms: round(Number(cols[4])),
    p99_ms: round(Number(cols[6])),
    note: 'one decision per script call (the engine\'s token-bucket Lua)',
  };
}

async function engineCase(name: string, policy: Policy, redisUrl: string | null, seconds: number, warmup: number, facts: RequestFacts[]): Promise<EngineBenchRow> {
  const client = redisUrl ? new Redis(redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: 1 }) : null;
  if (client) await client.ping();
  const engine: Engine = createEngine({ policy, service: 'bench', redis: client });
  try {
    const decide = (i: number): Promise<unknown> => engine.decide(facts[i % facts.length]!);
    let result;
    if (client) {
      await closedLoop(decide, IN_FLIGHT, warmup);
      result = await closedLoop(decide, IN_FLIGHT, seconds);
    } else {
      await sequential(decide, warmup);
      result = await sequential(decide, seconds);
    }
    const stats = engine.stats!();
    const note = client
      ? `${IN_FLIGHT} in flight; ${(stats.storeDecisions / Math.max(1, stats.storeCalls)).toFixed(1)} decisions per script call; ${stats.storeErrors} store errors`
      : 'one core, sequential';
    return { name, decisionsPerSec: Math.round(result.rate), p50_ms: round(result.lat.percentile(50)), p99_ms: round(result.lat.percentile(99)), note };
  } finally {
    await engine.close();
    client?.disconnect();
  }
}

async function rlfCase(redisUrl: string, autoPipelining: boolean, seconds: number, warmup: number): Promise<EngineBenchRow> {
  const client = new Redis(redisUrl, { enableAutoPipelining: autoPipelining, maxRetriesPerRequest: 1 });
  await client.ping();
  const limiter = new RateLimiterRedis({ storeClient: client, points: HUGE, duration: 60, keyPrefix: `rlfbench${Date.now().toString(36)}` });
  const keys = Array.from({ length: KEYS }, (_, i) => i.toString(16).padStart(16, '0'));
  try {
    const decide = (i: number): Promise<unknown> => limiter.consume(keys[i % KEYS]!);
    await closedLoop(decide, IN_FLIGHT, warmup);
    const r = await closedLoop(decide, IN_FLIGHT, seconds);
    return {
      name: `rate-limiter-flexible RateLimiterRedis (${autoPipelining ? 'auto-pipelining' : 'ioredis defaults'})`,
      decisionsPerSec: Math.round(r.rate),
      p50_ms: round(r.lat.percentile(50)),
      p99_ms: round(r.lat.percentile(99)),
      note: `${IN_FLIGHT} in flight`,
    };
  } finally {
    client.disconnect();
  }
}

/**
 * 8 engines with their own connections compete for one global token bucket (rate R per second,
 * burst B). Over-admission: admitted − (B + R·T) over the run, as a fraction of R (the limit).
 */
async function competingCase(redisUrl: string, scope: 'shared' | 'global-leased', seconds: number): Promise<EngineBenchRow> {
  // 20,000/s written as 200,000 per 10 s: with the default maxOverAdmission (1%) a lease lives 1% of
  // the window — 100 ms, comfortably above a loaded machine's round trip (see the README)
  const rate = 20_000;
  const windowS = 10;
  const limit = rate * windowS;
  const burst = 2_000;
  const prefix = `lease${Date.now().toString(36)}${scope === 'shared' ? 's' : 'l'}`;
  const policy = policyOf(`store: { kind: redis, keyPrefix: ${prefix}, replicas: 8 }
rules:
  - { id: global, key: [global], algorithm: token-bucket, rate: ${limit}/${windowS}s, burst: ${burst}, scope: ${scope} }
`);
  const clients = Array.from({ length: 8 }, () => new Redis(redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: 1 }));
  await Promise.all(clients.map((c) => c.ping()));
  const engines = clients.map((redis) => createEngine({ policy, service: 'bench', redis }));
  const facts = factsFor(KEYS);
  let admitted = 0;
  let first = Infinity;
  let last = 0;
  try {
    const r = await closedLoop(
      async (i) => {
        const t0 = performance.now();
        const v = await engines[i % 8]!.decide(facts[i % KEYS]!);
        if (v.kind === 'allow') {
          admitted++;
          if (t0 < first) first = t0;
          last = performance.now();
        }
      },
      IN_FLIGHT,
      seconds,
    );
    const span = (last - first) / 1000;
    const exact = burst + rate * span;
    const over = Math.max(0, admitted - exact);
    return {
      name: `token bucket ${rate}/s (${limit} per ${windowS} s), 8 engines competing, scope ${scope}`,
      decisionsPerSec: Math.round(r.rate),
      p50_ms: round(r.lat.percentile(50)),
      p99_ms: round(r.lat.percentile(99)),
      note: `admitted ${admitted} in ${span.toFixed(2)} s vs exact bound ${Math.floor(exact)}: over-admission ${Math.round(over)} (${((over / limit) * 100).toFixed(2)}% of the limit${scope === 'global-leased' ? ', configured bound 1%' : ''}); ${((admitted / Math.max(1, exact)) * 100).toFixed(1)}% of the bound used`,
    };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
    clients.forEach((c) => c.disconnect());
  }
}

function table(rows: readonly EngineBenchRow[]): string {
  const w = Math.max(...rows.map((r) => r.name.length));
  const lines = [`${'case'.padEnd(w)}  ${'decisions/s'.padStart(12)}  ${'p50 ms'.padStart(8)}  ${'p99 ms'.padStart(8)}  note`];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(w)}  ${String(r.decisionsPerSec).padStart(12)}  ${String(r.p50_ms ?? '-').padStart(8)}  ${String(r.p99_ms ?? '-').padStart(8)}  ${r.note ?? ''}`);
  }
  return lines.join('\n');
}

export async function run(opts: EngineBenchOptions = {}): Promise<{ rows: EngineBenchRow[] }> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const seconds = opts.seconds ?? (opts.quick ? 1 : 5);
  const warmup = opts.quick ? 0.3 : 1.5;
  const redisUrl = opts.redisUrl ?? infraEnv().REDIS_URL ?? null;
  const facts = factsFor(KEYS);
  const rows: EngineBenchRow[] = [];
  const add = (row: EngineBenchRow): void => {
    rows.push(row);
    log(`  ${row.name}: ${row.decisionsPerSec} decisions/s, p50 ${row.p50_ms} ms, p99 ${row.p99_ms} ms${row.note ? ` (${row.note})` : ''}`);
  };
  log(`engine bench: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, ${seconds}s per case, ${KEYS} keys`);

  add(await engineCase('ratewarden memory store, 1 rule', policyOf(rules(1)), null, seconds, warmup, facts));
  add(await engineCase('ratewarden memory store, 5 rules', policyOf(rules(5)), null, seconds, warmup, facts));
  if (redisUrl === null) {
    log('  REDIS_URL is not set and .infra.env has none: Redis cases skipped (run `npm run infra:up`)');
  } else {
    const prefix = `bench${Date.now().toString(36)}`;
    add(await engineCase('ratewarden Redis store, 1 rule', policyOf(`store: { kind: redis, keyPrefix: ${prefix}a, timeout: 2s }\n${rules(1)}`), redisUrl, seconds, warmup, facts));
    add(await engineCase('ratewarden Redis store, 5 rules', policyOf(`store: { kind: redis, keyPrefix: ${prefix}b, timeout: 2s }\n${rules(5)}`), redisUrl, seconds, warmup, facts));
    add(await rlfCase(redisUrl, false, seconds, warmup));
    add(await rlfCase(redisUrl, true, seconds, warmup));
    const perCall = opts.redisBenchmarkRequests ?? (opts.quick ? 20_000 : 200_000);
    add(redisBenchmark(redisUrl, 1, perCall));
    add(redisBenchmark(redisUrl, 16, perCall * 2));
    add(await competingCase(redisUrl, 'shared', seconds));
    add(await competingCase(redisUrl, 'global-leased', seconds));

    const ours = rows.find((r) => r.name === 'ratewarden Redis store, 1 rule')!;
    const rlf = Math.max(...rows.filter((r) => r.name.startsWith('rate-limiter-flexible')).map((r) => r.decisionsPerSec));
    log(`  Redis store vs the best rate-limiter-flexible run: ${(ours.decisionsPerSec / rlf).toFixed(2)}× (target ≥ 2×)`);
  }
  const mem = rows.find((r) => r.name === 'ratewarden memory store, 1 rule')!;
  log(`  memory store, 1 rule: ${(mem.decisionsPerSec / 1e6).toFixed(2)} M decisions/s on one core (target ≥ 1 M)`);
  log(table(rows));
  return { rows };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run({ quick: process.argv.includes('--quick') }).then(
    ({ rows }) => process.stdout.write(JSON.stringify(rows) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
