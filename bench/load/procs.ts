/**
 * Child processes of the load experiment: the simulator's stub upstream in fixed-capacity mode and
 * `ratewarden sidecar` processes, each started through tsx from sources (or from dist/ when
 * compiled), each answering once it prints its ready line. Every child is killed on stop and, as a
 * safety net, when the bench exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  output(): string;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function start(args: string[], env: NodeJS.ProcessEnv, urlOf: (line: string) => string | null, timeoutMs = 30_000): Promise<Child> {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not start in ${timeoutMs} ms:\n${output.slice(-2000)}`));
    }, timeoutMs);
    let found = false;
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (found) return;
      for (const line of output.split('\n')) {
        const url = urlOf(line);
        if (url === null) continue;
        found = true;
        clearTimeout(timer);
        resolve({
          url,
          child,
          output: () => output,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) {
                live.delete(child);
                return done();
              }
              child.once('exit', () => {
                live.delete(child);
                done();
              });
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
            }),
        });
        return;
      }
      if (output.length > 1_000_000) output = output.slice(-100_000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      live.delete(child);
      clearTimeout(timer);
      if (!found) reject(new Error(`${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`));
    });
  });
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
