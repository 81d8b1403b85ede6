/**
 * A Redis and a Kafka of the benchmark's own, pinned to the load generator's CPU. The servers
 * under test share CPU 0; the shared test Redis and Kafka float over both CPUs (and carry other
 * people's traffic), so whichever proxy uses them more — a Redis round trip per request for the
 * peers, a batched call for ratewarden — would pay for their scheduling on CPU 0 in its own
 * throughput. With private instances on CPU 1 every Redis-backed case meets the same, quiet
 * infrastructure, as it would on separate hosts, and their CPU per request is measurable.
 *
 * Redis needs `redis-server` on PATH; Kafka the broker jars scripts/infra downloads
 * (.cache/kafka/libs) and `java`. Either missing → null, and the caller falls back to the shared
 * infrastructure (saying so in the report).
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { kafkaJarsPresent, prepareKraft } from '../kraft.js';
import { stopChild, waitForPort } from '../child.js';
import { freePortNear, pinned } from './procs.js';

export interface PrivateService {
  /** redis://127.0.0.1:P or host:port for Kafka. */
  readonly url: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export async function privateRedis(cpu: number, dir: string): Promise<PrivateService | null> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return null;
  const port = await freePortNear();
  const [c, a] = pinned(cpu, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  await waitForPort(port, child, 10_000, 'redis-server', () => out);
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
}

export async function privateKafka(cpu: number, dir: string): Promise<PrivateService | null> {
  if (!kafkaJarsPresent()) return null;
  const port = await freePortNear();
  const controllerPort = await freePortNear();
  const { props, java } = prepareKraft({ dir: join(dir, 'kafka'), controllerPort, listeners: { PLAINTEXT: port }, heap: '512m' });
  const [c, a] = pinned(cpu, 'java', [...java, 'kafka.Kafka', props]);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  await waitForPort(port, child, 60_000, 'kafka', () => out);
  return { url: `127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
}

/** The pid of the process listening on a loopback TCP port (for the shared infra's CPU figures). */
export function listenerPid(port: number): number | undefined {
  try {
    const r = spawnSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
    const m = /pid=(\d+)/.exec(r.stdout ?? '');
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
