/**
 * The processes a soak runs, all on loopback: a minimal upstream (node:http, 200 with a small JSON
 * body), a real `ratewarden sidecar`, and wrk for the maximum rate. Each child's `stop()` sends
 * SIGTERM (SIGKILL after 10 s) and resolves on exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnReady, jsonLine } from '../child.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const IS_TS = import.meta.url.endsWith('.ts');
/** Repository root: bench/soak/ from sources, dist/bench/soak/ when compiled. */
export const REPO = IS_TS ? join(HERE, '..', '..') : join(HERE, '..', '..', '..');
export const NODE_ARGS = IS_TS ? ['--import', 'tsx'] : [];
const CLI = join(HERE, '..', '..', 'cli', 'main' + (IS_TS ? '.ts' : '.js'));

export interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The ready line's fields (`port` for the upstream; `listen`, `admin` for the sidecar). */
  readonly ready: Record<string, unknown>;
  stop(): Promise<void>;
}

export { infraEnv } from '../machine.js';

/** Spawns `cmd args` and resolves once an output line parses as JSON and satisfies `isReady`. */
async function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, isReady: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Child> {
  const r = await spawnReady(cmd, args, (text) => {
    const line = jsonLine(text);
    return line && isReady(line) ? line : null;
  }, { env, timeoutMs });
  return { child: r.child, pid: r.child.pid!, ready: r.ready, stop: r.stop };
}

const UPSTREAM = `
const http = require('node:http');
const body = Buffer.from(JSON.stringify({ ok: true, items: [1, 2, 3] }));
const server = http.createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ ready: true, port: server.address().port })));
`;

export function startUpstream(): Promise<Child> {
  return startChild(process.execPath, ['-e', UPSTREAM], process.env, (l) => l.ready === true);
}

export function startSidecar(policyFile: string, upstream: string, env: Record<string, string>): Promise<Child> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, RW_LOG_LEVEL: 'info', KAFKAJS_NO_PARTITIONER_WARNING: '1', ...env };
  for (const k of ['REDIS_URL', 'KAFKA_BROKERS', 'REDIS_CLUSTER_NODES']) if (!env[k]) delete childEnv[k];
  return startChild(process.execPath, [...NODE_ARGS, CLI, 'sidecar', '--config', policyFile, '--upstream', upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], childEnv, (l) => l.msg === 'ready');
}

export function writePolicy(dir: string, text: string): string {
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

/** Closed-loop maximum throughput with wrk (requests/s), or null when wrk is not installed. */
export function wrkMaxRate(url: string, seconds: number, connections: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', () => resolve(null));
    child.once('exit', () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      resolve(Number.isFinite(rps) ? rps : null);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
