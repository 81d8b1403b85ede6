/**
 * Processes the sidecar benchmarks start and drive, each on loopback: the bench servers
 * (servers.ts), real `ratewarden sidecar` processes, nginx, wrk (closed-loop maximum throughput)
 * and rateClient.ts (open-loop fixed rate). With taskset and ≥ 2 CPUs the servers share CPU 0 and
 * the load generator gets CPU 1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnReady, stopChild, waitForPort } from '../child.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const IS_TS = import.meta.url.endsWith('.ts');
/** Repository root: bench/sidecar/ from sources, dist/bench/sidecar/ when compiled. */
export const REPO = IS_TS ? join(HERE, '..', '..') : join(HERE, '..', '..', '..');
const EXT = IS_TS ? '.ts' : '.js';
const NODE_ARGS = IS_TS ? ['--import', 'tsx'] : [];
const CLI = join(HERE, '..', '..', 'cli', 'main' + EXT);


export { infraEnv } from '../machine.js';

export const pinning = spawnSync('taskset', ['-V']).status === 0 && cpus().length >= 2;
export function pinned(cpu: number, cmd: string, args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

export interface Proc {
  readonly child: ChildProcess;
  readonly port: number;
  /** ratewarden's admin port (from its ready line), for its own counters. */
  adminPort?: number;
  stop(): Promise<void>;
}

/** Starts a child on CPU 0 and waits for an output line from which `portOf` extracts the port. */
export async function startProc(cmd: string, args: string[], env: NodeJS.ProcessEnv, portOf: (line: string) => number | null, timeoutMs = 30_000): Promise<Proc> {
  const [c, a] = pinned(0, cmd, args);
  const r = await spawnReady(c, a, portOf, { env, timeoutMs });
  return { child: r.child, port: r.ready, stop: r.stop };
}

export function benchServer(kind: string, extra: string[]): Promise<Proc> {
  return startProc(process.execPath, [...NODE_ARGS, join(HERE, 'servers' + EXT), kind, ...extra], process.env, (line) => {
    try {
      const v = JSON.parse(line) as { ready?: boolean; port?: number };
      return v.ready ? v.port! : null;
    } catch {
      return null;
    }
  });
}

export const adminPorts = new Map<number, number>();

/** Store errors (decisions that fell back to failMode), dropped events and Redis batching of a ratewarden under test. */
export async function ratewardenCounters(port: number): Promise<string> {
  const v = await scrapeValues(adminPorts.get(port), ['ratewarden_store_errors_total', 'ratewarden_events_dropped_total', 'ratewarden_events_sent_total', 'ratewarden_store_calls_total', 'ratewarden_store_decisions_total']);
  if (!v) return '';
  const value = (name: string): number => v.get(name) ?? 0;
  const notes: string[] = [];
  if (value('ratewarden_store_errors_total') > 0) notes.push(`${value('ratewarden_store_errors_total')} store errors`);
  if (value('ratewarden_events_dropped_total') > 0) notes.push(`${value('ratewarden_events_dropped_total')} events dropped`);
  const sent = value('ratewarden_events_sent_total');
  if (sent > 0) notes.push(`${sent} events sent`);
  const calls = value('ratewarden_store_calls_total');
  if (calls > 0) notes.push(`${calls} Redis calls, ${(value('ratewarden_store_decisions_total') / calls).toFixed(1)} decisions per call since start`);
  return notes.join(', ');
}

/** `ratewarden sidecar` on `policy`; `nodeFlags`: V8/node flags for that process (the latency study compares them). */
export function ratewarden(policy: string, upstream: string, env: Record<string, string>, dir: string, nodeFlags: readonly string[] = []): Promise<Proc> {
  const file = join(dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, policy);
  // info: the ready line is info-level, and nothing logs per request anyway
  const childEnv: NodeJS.ProcessEnv = { ...process.env, RW_LOG_LEVEL: 'info', ...env };
  if (!env.REDIS_URL) delete childEnv.REDIS_URL;
  if (!env.KAFKA_BROKERS) delete childEnv.KAFKA_BROKERS;
  delete childEnv.REDIS_CLUSTER_NODES;
  return startProc(process.execPath, [...nodeFlags, ...NODE_ARGS, CLI, 'sidecar', '--config', file, '--upstream', upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], childEnv, (line) => {
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

export function nginx(upstreamPort: number, dir: string): Promise<Proc> | null {
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
    await waitForPort(port, child, 10_000, 'nginx', () => err);
    return { child, port, stop: () => stopChild(child, 5_000, 'SIGQUIT') };
  })();
}

export async function freePortNear(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** wrk's latency value (`812.00us`, `1.23ms`, `2.01s`) in ms. */
export function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

export function runWrk(url: string, seconds: number, connections: number): Promise<{ rps: number; p50: number; p99: number; non2xx: number }> {
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

/**
 * One open-loop run of rateClient.ts at `rate` for `seconds` after `warmupSeconds` unmeasured (a new
 * generator process: its own JIT and connections; through a proxy near saturation the backlog of a
 * cold start takes a second or two to drain). `sent` counts the warm-up's requests too.
 */
export function runRate(url: string, rate: number, seconds: number, warmupSeconds = 1): Promise<{ sent: number; rps: number; p50_ms: number; p99_ms: number; errors: number }> {
  const [c, a] = pinned(1, process.execPath, [...NODE_ARGS, join(HERE, 'rateClient' + EXT), url, '--rate', String(Math.max(1, Math.round(rate))), '--duration', String(seconds), '--warmup', String(warmupSeconds)]);
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

export const RULE = `  - { id: bench, key: [ip], algorithm: fixed-window, limit: 1000000000, window: 1s }\n`;
/**
 * The same limit with scope global-leased: a sidecar leases slices of it from Redis (sized to what it
 * spent in the last 10 ms, the grant lifetime maxOverAdmission × window) and spends them locally.
 */
export const LEASED_RULE = `  - { id: bench, key: [ip], algorithm: sliding-window-counter, limit: 1000000000, window: 1s, scope: global-leased, maxOverAdmission: 0.01 }\n`;


const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU time (user + system) a process has used so far, in µs (Linux /proc; NaN elsewhere). */
export function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces: count fields after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** The pid of the Redis server behind `url` (INFO server), for its CPU per request. */
export async function redisServerPid(url: string | undefined): Promise<number | undefined> {
  if (!url) return undefined;
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 1_000 });
  try {
    await r.connect();
    const info = await r.info('server');
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

/** Cumulative bucket counts of a ratewarden histogram (`le` → count) from its admin /metrics. */
export async function scrapeHistogram(adminPort: number | undefined, name: string): Promise<Map<number, number> | null> {
  if (adminPort === undefined) return null;
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const out = new Map<number, number>();
    const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm');
    for (let m = re.exec(text); m !== null; m = re.exec(text)) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
    return out;
  } catch {
    return null;
  }
}

/** Values of unlabelled metrics (e.g. counters) from a ratewarden admin port; null when unreachable. */
export async function scrapeValues(adminPort: number | undefined, names: readonly string[]): Promise<Map<string, number> | null> {
  if (adminPort === undefined) return null;
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const out = new Map<string, number>();
    for (const name of names) {
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      if (m) out.set(name, Number(m[1]));
    }
    return out;
  } catch {
    return null;
  }
}

/** A percentile (ms) of the observations between two scrapes, interpolated linearly inside its bucket. */
export function histogramPercentile(before: Map<number, number>, after: Map<number, number>, p: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return NaN;
  const target = (p / 100) * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const upper = bounds[i]!;
    if (counts[i]! >= target) {
      if (!Number.isFinite(upper)) return lower * 1000; // beyond the last bound: report the bound
      const inBucket = counts[i]! - below;
      return (lower + (inBucket > 0 ? (target - below) / inBucket : 1) * (upper - lower)) * 1000;
    }
    lower = upper;
    below = counts[i]!;
  }
  return NaN;
}
