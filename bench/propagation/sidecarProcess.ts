/**
 * Real `ratewarden sidecar` processes for the benchmarks that need the whole program (control-plane
 * propagation, events under load): started from the compiled CLI when running compiled, through tsx
 * from sources; both ports are 0 and read back from the `ready` line. Also a plain upstream process
 * (bench/sidecar/servers.ts `upstream`) and a /metrics reader.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FROM_SOURCE, REPO } from '../machine.js';
import { spawnReady } from '../child.js';

const EXT = FROM_SOURCE ? '.ts' : '.js';
const BASE = FROM_SOURCE ? REPO : join(REPO, 'dist');
const NODE_ARGS = FROM_SOURCE ? ['--import', 'tsx'] : [];

export interface RunningProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:port` of the public listener. */
  readonly url: string;
  /** `http://127.0.0.1:port` of the admin listener (sidecars only). */
  readonly admin: string | null;
  stop(): Promise<void>;
}

/** Spawns and waits for the first output line `ready(line)` accepts. */
async function startUntil(args: string[], env: NodeJS.ProcessEnv, ready: (line: string) => { url: string; admin: string | null } | null, timeoutMs: number, cleanup?: () => void): Promise<RunningProcess> {
  const r = await spawnReady(process.execPath, [...NODE_ARGS, ...args], ready, { env, timeoutMs, graceMs: 8_000, ...(cleanup ? { cleanup } : {}) });
  return { child: r.child, ...r.ready, stop: r.stop };
}

/** The benchmarks' plain node:http upstream ("hello" JSON), as its own process. */
export function startUpstream(): Promise<RunningProcess> {
  return startUntil([join(BASE, 'bench', 'sidecar', 'servers' + EXT), 'upstream', '--port', '0'], process.env, (line) => {
    try {
      const v = JSON.parse(line) as { ready?: boolean; port?: number };
      return v.ready ? { url: `http://127.0.0.1:${v.port}`, admin: null } : null;
    } catch {
      return null;
    }
  }, 20_000);
}

/**
 * `ratewarden sidecar` with `policy` (YAML text) in front of `upstream`. `env` is applied over the
 * current environment; REDIS_URL / KAFKA_BROKERS / REDIS_CLUSTER_NODES are passed only when given
 * in `env`, so each case chooses its infrastructure explicitly.
 */
export function startSidecar(policy: string, upstream: string, env: Record<string, string>): Promise<RunningProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rw-bench-sc-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policy);
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'KAFKA_BROKERS', 'RW_EVENTS_TOPIC', 'RW_CTL_PREFIX']) delete childEnv[k];
  Object.assign(childEnv, { RW_LOG_LEVEL: 'info' }, env);
  const args = [join(BASE, 'cli', 'main' + EXT), 'sidecar', '--config', file, '--upstream', upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
  return startUntil(args, childEnv, (line) => {
    try {
      const v = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
      return v.msg === 'ready' && v.listen ? { url: v.listen.replace('0.0.0.0', '127.0.0.1'), admin: v.admin ?? null } : null;
    } catch {
      return null;
    }
  }, 30_000, () => rmSync(dir, { recursive: true, force: true }));
}

/** Sum of a metric's samples in Prometheus text (all label sets), or null when absent. */
export function metricValue(text: string, name: string): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) total = (total ?? 0) + v;
  }
  return total;
}

export async function scrape(admin: string): Promise<string> {
  const res = await fetch(`${admin}/metrics`);
  return res.text();
}
