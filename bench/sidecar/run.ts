/**
 * Sidecar throughput and latency, all cases in one run on loopback, each server its own process:
 *
 *   upstream direct                       the app alone (ceiling)
 *   @fastify/http-proxy                   the plain fastify proxy, no limiter
 *   ratewarden, no rules                  our proxy path alone
 *   ratewarden, memory store              one fixed-window rule in memory
 *   ratewarden, Redis + Kafka events      the same rule in Redis, one event per request to Kafka
 *   @fastify/http-proxy + rate-limit      @fastify/rate-limit with its Redis store
 *   @fastify/http-proxy + rlf             rate-limiter-flexible RateLimiterRedis
 *   nginx limit_req                       when nginx is installed
 * then, at half of ratewarden (Redis + Kafka)'s maximum rate, the p99 it adds over the upstream alone.
 *
 * Throughput is wrk (closed loop, one thread, `connections` connections); the fixed-rate latency run
 * uses rateClient.ts (open loop). With taskset and ≥ 2 CPUs the upstream and the proxy share CPU 0 and
 * the load generator gets CPU 1, as in the figures the issue quotes. Limits are set high: this measures
 * the cost of deciding and forwarding, not of rejecting.
 *
 *   node dist/bench/sidecar/run.js [--quick]      (or through `npm run bench`)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchRow {
  readonly name: string;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly note?: string;
}

export interface SidecarBenchOptions {
  readonly quick?: boolean;
  /** Seconds per measured run (default 10; quick 3). */
  readonly seconds?: number;
  readonly connections?: number;
  readonly log?: (line: string) => void;
  /** Run only the cases whose name contains this text (the fixed-rate latency run needs the Redis + Kafka case). */
  readonly only?: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const IS_TS = import.meta.url.endsWith('.ts');
/** Repository root: bench/sidecar/ from sources, dist/bench/sidecar/ when compiled. */
const REPO = IS_TS ? join(HERE, '..', '..') : join(HERE, '..', '..', '..');
const EXT = IS_TS ? '.ts' : '.js';
const NODE_ARGS = IS_TS ? ['--import', 'tsx'] : [];
const CLI = join(HERE, '..', '..', 'cli', 'main' + EXT);

function infraEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  const file = join(REPO, '.infra.env');
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) out[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
    }
  }
  for (const k of ['REDIS_URL', 'KAFKA_BROKERS']) if (process.env[k]) out[k] = process.env[k]!;
  return out;
}

const pinning = spawnSync('taskset', ['-V']).status === 0 && cpus().length >= 2;
function pinned(cpu: number, cmd: string, args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

interface Proc {
  readonly child: ChildProcess;
  readonly port: number;
  /** ratewarden's admin port (from its ready line), for its own counters. */
  adminPort?: number;
  stop(): Promise<void>;
}

/** Starts a child and waits for a stdout line from which `portOf` extracts the port. */
function startProc(cmd: string, args: string[], env: NodeJS.ProcessEnv, portOf: (line: string) => number | null, timeoutMs = 30_000): Promise<Proc> {
  const [c, a] = pinned(0, cmd, args);
  const child = spawn(c, a, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not start in ${timeoutMs} ms:\n${output.slice(-2000)}`));
    }, timeoutMs);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      output += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const port = portOf(line);
        if (port !== null) {
          clearTimeout(timer);
          resolve({
            child,
            port,
            stop: () =>
              new Promise<void>((done) => {
                if (child.exitCode !== null || child.signalCode !== null) return done(); // stopped already (a second stop must not wait for an exit that happened)
                child.once('exit', () => done());
                child.kill('SIGTERM');
                setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
              }),
          });
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`));
    });
  });
}

function benchServer(kind: string, extra: string[]): Promise<Proc> {
  return startProc(process.execPath, [...NODE_ARGS, join(HERE, 'servers' + EXT), kind, ...extra], process.env, (line) => {
    try {
      const v = JSON.parse(line) as { ready?: boolean; port?: number };
      return v.ready ? v.port! : null;
    } catch {
      return null;
    }
  });
}

const adminPorts = new Map<number, number>();

/** Store errors (decisions that fell back to failMode) and dropped events of a ratewarden under test. */
async function ratewardenCounters(port: number): Promise<string> {
  const admin = adminPorts.get(port);
  if (!admin) return '';
  try {
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const notes: string[] = [];
    if (value('ratewarden_store_errors_total') > 0) notes.push(`${value('ratewarden_store_errors_total')} store errors`);
    if (value('ratewarden_events_dropped_total') > 0) notes.push(`${value('ratewarden_events_dropped_total')} events dropped`);
    const sent = value('ratewarden_events_sent_total');
    if (sent > 0) notes.push(`${sent} events sent`);
    return notes.join(', ');
  } catch {
    return '';
  }
}

function ratewarden(policy: string, upstream: string, env: Record<string, string>, dir: string): Promise<Proc> {
  const file = join(dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, policy);
  // info: the ready line is info-level, and nothing logs per request anyway
  const childEnv: NodeJS.ProcessEnv = { ...process.env, RW_LOG_LEVEL: 'info', ...env };
  if (!env.REDIS_URL) delete childEnv.REDIS_URL;
  if (!env.KAFKA_BROKERS) delete childEnv.KAFKA_BROKERS;
  delete childEnv.REDIS_CLUSTER_NODES;
  return startProc(process.execPath, [...NODE_ARGS, CLI, 'sidecar', '--config', file, '--upstream', upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], childEnv, (line) => {
    try {
      const v = JSON.parse(line) as { msg?: string; listen?: string };
      if (v.msg !== 'ready') return null;
      adminPorts.set(Number(new URL(v.listen!).port), Number(new URL((v as { admin?: string }).admin!).port));
      return Number(new URL(v.listen!).port);
    } catch {
      return null;
    }
  });
}

function nginx(upstreamPort: number, dir: string): Promise<Proc> | null {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  if (!bin) return null;
  const root = join(dir, 'nginx');
  mkdirSync(join(root, 'tmp'), { recursive: true });
  return (async () => {
    const port = await freePortNear();
    const conf = `worker_processes 1;
daemon off;
user root;
pid ${root}/nginx.pid;
error_log ${root}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${root}/tmp/body;
  proxy_temp_path ${root}/tmp/proxy;
  fastcgi_temp_path ${root}/tmp/fastcgi;
  uwsgi_temp_path ${root}/tmp/uwsgi;
  scgi_temp_path ${root}/tmp/scgi;
  limit_req_zone $binary_remote_addr zone=rl:10m rate=1000000r/s;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      limit_req zone=rl burst=1000000 nodelay;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://app;
    }
  }
}
`;
    writeFileSync(join(root, 'nginx.conf'), conf);
    const [c, a] = pinned(0, bin, ['-p', root, '-c', join(root, 'nginx.conf')]);
    const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${err}`);
      if (await canConnect(port)) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not listen: ${err}`);
      }
      await sleep(50);
    }
    return {
      child,
      port,
      stop: () =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGQUIT');
          setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
        }),
    };
  })();
}

async function freePortNear(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** wrk's latency value (`812.00us`, `1.23ms`, `2.01s`) in ms. */
function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

function runWrk(url: string, seconds: number, connections: number): Promise<{ rps: number; p50: number; p99: number; non2xx: number }> {
  const [c, a] = pinned(1, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url]);
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const p50 = wrkMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
      const p99 = wrkMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
      if (!Number.isFinite(rps)) reject(new Error(`wrk output not understood:\n${out}`));
      else resolve({ rps, p50, p99, non2xx });
    });
  });
}

function runRate(url: string, rate: number, seconds: number): Promise<{ rps: number; p50_ms: number; p99_ms: number; errors: number }> {
  const [c, a] = pinned(1, process.execPath, [...NODE_ARGS, join(HERE, 'rateClient' + EXT), url, '--rate', String(Math.max(1, Math.round(rate))), '--duration', String(seconds), '--warmup', '1']);
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`rateClient failed: ${err || out}`));
      }
    });
  });
}

const RULE = `  - { id: bench, key: [ip], algorithm: fixed-window, limit: 1000000000, window: 1s }\n`;

export async function run(opts: SidecarBenchOptions = {}): Promise<BenchRow[]> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const seconds = opts.seconds ?? (opts.quick ? 3 : 10);
  const warm = opts.quick ? 1 : 2;
  const connections = opts.connections ?? 50;
  const infra = infraEnv();
  const dir = mkdtempSync(join(tmpdir(), 'rw-bench-sidecar-'));
  const rows: BenchRow[] = [];
  const procs: Proc[] = [];
  const tag = `bench-${Date.now().toString(36)}`;
  log(`sidecar benchmark: wrk -t1 -c${connections}, ${seconds}s per case${pinning ? ', servers on CPU 0, load generator on CPU 1' : ' (no CPU pinning)'}`);

  const wanted = (name: string): boolean => !opts.only || name.toLowerCase().includes(opts.only.toLowerCase());
  const measure = async (name: string, url: string, note?: string): Promise<BenchRow | null> => {
    if (!wanted(name)) return null;
    await runWrk(url, warm, connections);
    const r = await runWrk(url, seconds, connections);
    const counters = await ratewardenCounters(Number(new URL(url).port));
    const notes = [note, r.non2xx ? `${r.non2xx} non-2xx` : '', counters].filter(Boolean).join('; ');
    const row: BenchRow = { name, rps: Math.round(r.rps), p50_ms: round(r.p50), p99_ms: round(r.p99), ...(notes ? { note: notes } : {}) };
    rows.push(row);
    log(`  ${name.padEnd(44)} ${String(row.rps).padStart(7)} req/s   p50 ${row.p50_ms.toFixed(3)} ms   p99 ${row.p99_ms.toFixed(3)} ms${row.note ? '   (' + row.note + ')' : ''}`);
    return row;
  };
  const withProc = async <T>(start: () => Promise<Proc> | null, body: (p: Proc) => Promise<T>, skipNote: string, name?: string): Promise<T | null> => {
    let p: Proc | null = null;
    if (name !== undefined && !wanted(name)) return null;
    try {
      const started = start();
      if (started === null) {
        log(`  (skipped: ${skipNote})`);
        return null;
      }
      p = await started;
      procs.push(p);
      return await body(p);
    } catch (err) {
      log(`  (failed: ${(err as Error).message.split('\n')[0]})`);
      return null;
    } finally {
      if (p) await p.stop();
    }
  };

  try {
    const upstream = await benchServer('upstream', ['--port', '0']);
    procs.push(upstream);
    const upUrl = `http://127.0.0.1:${upstream.port}`;
    await measure('upstream direct', upUrl + '/');

    await withProc(() => benchServer('http-proxy', ['--upstream', upUrl]), (p) => measure('@fastify/http-proxy (no limiter)', `http://127.0.0.1:${p.port}/`), '', '@fastify/http-proxy (no limiter)');
    await withProc(() => ratewarden('version: 1\nrules: []\n', upUrl, {}, dir), (p) => measure('ratewarden (no rules)', `http://127.0.0.1:${p.port}/`), '', 'ratewarden (no rules)');
    await withProc(() => ratewarden(`version: 1\nstore: { kind: memory }\nrules:\n${RULE}`, upUrl, {}, dir), (p) => measure('ratewarden (memory store)', `http://127.0.0.1:${p.port}/`), '', 'ratewarden (memory store)');

    let rwMax: BenchRow | null = null;
    const rateRows: BenchRow[] = [];
    const redisKafkaEnv = { REDIS_URL: infra.REDIS_URL ?? '', KAFKA_BROKERS: infra.KAFKA_BROKERS ?? '', RW_EVENTS_TOPIC: `${tag}.events`, RW_CTL_PREFIX: `${tag}:ctl` };
    const haveInfra = Boolean(infra.REDIS_URL && infra.KAFKA_BROKERS);
    // a 1 s store timeout: under load every decision must still come from Redis, not the fail-open fallback
    const rkPolicy = `version: 1\nstore: { kind: redis, failMode: open, keyPrefix: "${tag}:", timeout: 1s }\nrules:\n${RULE}`;
    if (haveInfra) {
      await withProc(
        () => ratewarden(rkPolicy, upUrl, redisKafkaEnv, dir),
        async (p) => {
          const url = `http://127.0.0.1:${p.port}/`;
          rwMax = await measure('ratewarden (Redis + Kafka events)', url);
          // added latency at half of that maximum, on the same (warm) process: an open-loop client
          // against a cold process measures the JIT warm-up backlog, not the steady state
          if (rwMax && rwMax.rps > 0) {
            const rate = rwMax.rps / 2;
            await runRate(url, rate, warm + 1); // settle at this rate first
            await runRate(upUrl + '/', rate, warm + 1);
            const direct = await runRate(upUrl + '/', rate, seconds);
            const viaRw = await runRate(url, rate, seconds);
            const rowDirect: BenchRow = { name: `upstream direct @ ${Math.round(rate)} req/s`, rps: direct.rps, p50_ms: direct.p50_ms, p99_ms: direct.p99_ms };
            const added = round(viaRw.p99_ms - direct.p99_ms);
            const rowRw: BenchRow = { name: `ratewarden (Redis + Kafka) @ ${Math.round(rate)} req/s`, rps: viaRw.rps, p50_ms: viaRw.p50_ms, p99_ms: viaRw.p99_ms, note: `added p50 ${round(viaRw.p50_ms - direct.p50_ms).toFixed(3)} ms, p99 ${added.toFixed(3)} ms` };
            rateRows.push(rowDirect, rowRw);
          }
        },
        '',
        'ratewarden (Redis + Kafka events)',
      );
    } else log('  (ratewarden Redis + Kafka skipped: REDIS_URL / KAFKA_BROKERS not set; run npm run infra:up)');

    if (infra.REDIS_URL) {
      await withProc(() => benchServer('http-proxy+rate-limit', ['--upstream', upUrl, '--redis', infra.REDIS_URL!]), (p) => measure('@fastify/http-proxy + @fastify/rate-limit (Redis)', `http://127.0.0.1:${p.port}/`), '', '@fastify/http-proxy + @fastify/rate-limit (Redis)');
      await withProc(() => benchServer('http-proxy+rlf', ['--upstream', upUrl, '--redis', infra.REDIS_URL!]), (p) => measure('@fastify/http-proxy + rate-limiter-flexible (Redis)', `http://127.0.0.1:${p.port}/`), '', '@fastify/http-proxy + rate-limiter-flexible (Redis)');
    }
    await withProc(() => nginx(upstream.port, dir), (p) => measure('nginx limit_req', `http://127.0.0.1:${p.port}/`), 'nginx not installed', 'nginx limit_req');

    for (const row of rateRows) {
      rows.push(row);
      log(`  ${row.name.padEnd(44)} ${String(row.rps).padStart(7)} req/s   p50 ${row.p50_ms.toFixed(3)} ms   p99 ${row.p99_ms.toFixed(3)} ms${row.note ? '   (' + row.note + ')' : ''}`);
    }

    const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
    const rk = find('ratewarden (Redis + Kafka events)');
    const frl = find('@fastify/http-proxy + @fastify/rate-limit');
    const plain = find('@fastify/http-proxy (no limiter)');
    if (rk && frl) log(`  target ≥ 1.5× @fastify/rate-limit (Redis): ${(rk.rps / frl.rps).toFixed(2)}×`);
    if (rk && plain) log(`  target ≥ 90% of @fastify/http-proxy: ${((rk.rps / plain.rps) * 100).toFixed(0)}%`);
    return rows;
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const onlyAt = process.argv.indexOf('--only');
  run({ quick: process.argv.includes('--quick'), ...(onlyAt > 0 ? { only: process.argv[onlyAt + 1] } : {}) }).then(
    (rows) => {
      process.stdout.write(JSON.stringify(rows) + '\n');
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
