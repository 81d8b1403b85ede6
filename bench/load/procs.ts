/**
 * Child processes of the load experiment: the simulator's stub upstream in fixed-capacity mode and
 * `ratewarden sidecar` processes, each started through tsx from sources (or from dist/ when
 * compiled), each answering once it prints its ready line. Every child is killed on stop and, as a
 * safety net, when the bench exits.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnReady } from '../child.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const IS_TS = import.meta.url.endsWith('.ts');
const EXT = IS_TS ? '.ts' : '.js';
const NODE_ARGS = IS_TS ? ['--import', 'tsx'] : [];
/** cli/ and simulator/ beside bench/ (sources or dist/). */
const CLI = join(HERE, '..', '..', 'cli', 'main' + EXT);
const SIM_CLI = join(HERE, '..', '..', 'simulator', 'cli' + EXT);

export interface Child {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

async function start(args: string[], env: NodeJS.ProcessEnv, urlOf: (line: string) => string | null, timeoutMs = 30_000): Promise<Child> {
  const r = await spawnReady(process.execPath, [...NODE_ARGS, ...args], urlOf, { env, timeoutMs, graceMs: 5_000 });
  return { url: r.ready, child: r.child, stop: r.stop };
}

/** The simulator's stub upstream with `workers` slots of `serviceMs` and a queue of `queueLimit`. */
export function startCapacityStub(capacity: { workers: number; serviceMs: number; queueLimit: number }): Promise<Child> {
  return start([SIM_CLI, 'stub', '--listen', '127.0.0.1:0', '--capacity', `${capacity.workers}:${capacity.serviceMs}:${capacity.queueLimit}`], process.env, (line) => {
    const m = /stub upstream on (http:\/\/\S+)/.exec(line);
    return m ? m[1]! : null;
  });
}

/** `ratewarden sidecar` with this policy (written to `dir`), no Redis, no Kafka. */
export function startSidecarProcess(policyYaml: string, upstream: string, dir: string, name: string): Promise<Child> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, policyYaml);
  const env: NodeJS.ProcessEnv = { ...process.env, RW_LOG_LEVEL: 'info', RW_SERVICE: 'bench', RW_POD: name };
  delete env.REDIS_URL;
  delete env.REDIS_CLUSTER_NODES;
  delete env.KAFKA_BROKERS;
  return start([CLI, 'sidecar', '--config', file, '--upstream', upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], env, (line) => {
    if (!line.startsWith('{')) return null;
    try {
      const v = JSON.parse(line) as { msg?: string; listen?: string };
      return v.msg === 'ready' && v.listen ? v.listen : null;
    } catch {
      return null;
    }
  });
}
