/**
 * A private single-node KRaft Kafka for chaos tests — never the shared broker others use
 * (bench/kraft.ts: same jars and settings as scripts/infra, its own ports and data directory), so a
 * test may stop and restart it at will.
 *
 *   const k = await startPrivateKafka();      // k.brokers = '127.0.0.1:PORT'
 *   await k.stop();  …  await k.start();      // same data dir and port: topics and offsets survive
 *   await k.destroy();                        // in after()
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { prepareKraft, waitForKafka } from '../../bench/kraft.js';
import { freePort, tempDir } from './proc.js';

export interface PrivateKafka {
  readonly brokers: string;
  readonly port: number;
  readonly dir: string;
  /** Starts the broker (again) and waits until a client can list topics. */
  start(timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** Stops it for good. */
  destroy(): Promise<void>;
  running(): boolean;
}

export async function startPrivateKafka(opts: { timeoutMs?: number } = {}): Promise<PrivateKafka> {
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const dir = tempDir('rw-kafka-');
  const { props, java } = prepareKraft({ dir, controllerPort, listeners: { PLAINTEXT: port } });

  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const brokers = `127.0.0.1:${port}`;
  const onExit = () => proc?.kill('SIGKILL');

  const k: PrivateKafka = {
    brokers,
    port,
    dir,
    running: () => proc !== null && proc.exitCode === null && proc.signalCode === null,
    async start(timeoutMs = opts.timeoutMs ?? 90_000) {
      if (k.running()) return;
      let output = '';
      const child = spawn('java', [...java, 'kafka.Kafka', props], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
      child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
      proc = child;
      process.once('exit', onExit);
      exited = new Promise((resolve) => child.once('exit', () => resolve()));
      await waitForKafka(brokers, child, timeoutMs, () => output);
    },
    async stop(graceMs = 20_000) {
      const child = proc;
      if (!child || !k.running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      process.off('exit', onExit);
    },
    async destroy() {
      await k.stop(5_000);
    },
  };
  await k.start();
  return k;
}
