/**
 * What the benchmarks ran on, recorded next to every figure: cores, memory, Node, Redis and Kafka
 * versions, OS, date and the load average at start and end (the machine is shared and noisy, so a
 * figure taken under load says so). Also the infrastructure addresses the parts connect to
 * (`.infra.env`, written by scripts/infra/up.sh, under the process environment).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const HERE = dirname(fileURLToPath(import.meta.url));
/** True when running from sources through tsx (bench/), false when compiled (dist/bench/). */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** The repository root. */
export const REPO = FROM_SOURCE ? join(HERE, '..') : join(HERE, '..', '..');

export interface MachineInfo {
  readonly cores: number;
  readonly cpu: string;
  readonly memory_gb: number;
  readonly node: string;
  readonly redis: string | null;
  readonly kafka: string | null;
  readonly os: string;
  /** ISO time the run started. */
  readonly date: string;
  /** 1-minute load average at the start and at the end of the run. */
  readonly load_start: number;
  readonly load_end: number | null;
}

/**
 * `.infra.env` (written by scripts/infra/up.sh) with the process environment's REDIS_*, KAFKA_*,
 * RW_INFRA_* and HELM_BIN on top (the environment wins). The one reader, for benches and tests.
 */
export function infraEnv(env: NodeJS.ProcessEnv = process.env, file = join(REPO, '.infra.env')): Record<string, string> {
  const out: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) out[m[1]!] = m[2]!.trim().replace(/^["']|["']$/g, '');
    }
  }
  for (const [k, v] of Object.entries(env)) if (v && /^(REDIS_|KAFKA_|RW_INFRA_|HELM_BIN$)/.test(k)) out[k] = v;
  return out;
}

/** The running server's version (INFO), else the installed binary's, else null. */
async function redisVersion(url: string | undefined): Promise<string | null> {
  if (url) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const m = /redis_version:(\S+)/.exec(await client.info('server'));
      if (m) return m[1]!;
    } catch {
      // fall through to the binary
    } finally {
      client.disconnect();
    }
  }
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return /v=([\d.]+)/.exec(r.stdout ?? '')?.[1] ?? null;
}

export async function describeMachine(now: Date = new Date()): Promise<MachineInfo> {
  const env = infraEnv();
  const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown';
  return {
    cores: availableParallelism(),
    cpu,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    redis: await redisVersion(env.REDIS_URL),
    kafka: env.RW_INFRA_KAFKA_VERSION ?? null,
    os: `${type()} ${release()}${osName()}`,
    date: now.toISOString(),
    load_start: round2(loadavg()[0]!),
    load_end: null,
  };
}

export function finishMachine(m: MachineInfo): MachineInfo {
  return { ...m, load_end: round2(loadavg()[0]!) };
}

/** One line for the report header. */
export function machineLine(m: MachineInfo): string {
  return `${m.date.slice(0, 10)} · ${m.cores} cores (${m.cpu}), ${m.memory_gb} GB · Node ${m.node} · Redis ${m.redis ?? '?'} · Kafka ${m.kafka ?? '?'} · ${m.os} · load ${m.load_start}→${m.load_end ?? '?'}`;
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m ? ` (${m[1]})` : '';
  } catch {
    return '';
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
