/**
 * A private single-node KRaft Kafka for chaos tests — never the shared broker others use. Same jars
 * (`.cache/kafka/libs`, fetched by scripts/infra/up.sh), same settings as scripts/infra/lib.sh, but
 * its own ports and its own data directory, so a test may stop and restart it at will.
 *
 *   const k = await startPrivateKafka();      // k.brokers = '127.0.0.1:PORT'
 *   await k.stop();  …  await k.start();      // same data dir and port: topics and offsets survive
 *   await k.destroy();                        // in after()
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ROOT } from './infra.js';
import { freePort, tempDir } from './proc.js';

const LIBS = join(ROOT, '.cache', 'kafka', 'libs');
const LOG4J = join(ROOT, 'scripts', 'infra', 'kafka-log4j2.properties');
const JVM = ['-Xms128m', '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true'];
// base64url of 16 bytes, a valid KRaft cluster id distinct from the shared broker's
const CLUSTER_ID = 'cHJpdmF0ZS1rYWZrYS0xMg';

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
  if (!existsSync(LIBS) || !readdirSync(LIBS).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new Error(`Kafka jars not found in ${LIBS}; run \`npm run infra:up\` once to fetch them`);
  }
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const dir = tempDir('rw-kafka-');
  const data = join(dir, 'data');
  const logs = join(dir, 'logs');
  mkdirSync(data, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const props = join(dir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${data}`,
      'num.partitions=3',
      'default.replication.factor=1',
      'min.insync.replicas=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      'num.network.threads=2',
      'num.io.threads=2',
      'num.recovery.threads.per.data.dir=1',
      '',
    ].join('\n'),
  );
  const java = (args: string[]) => [...JVM, `-Dlog4j2.configurationFile=${LOG4J}`, `-Dkafka.logs.dir=${logs}`, '-cp', `${LIBS}/*`, ...args];
  const format = spawnSync('java', java(['kafka.tools.StorageTool', 'format', '-t', CLUSTER_ID, '-c', props, '--ignore-formatted']), { encoding: 'utf8', timeout: 120_000 });
  if (format.status !== 0) throw new Error(`kafka storage format failed: ${format.stderr || format.stdout}`);

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
      const child = spawn('java', java(['kafka.Kafka', props]), { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
      child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
      proc = child;
      process.once('exit', onExit);
      exited = new Promise((resolve) => child.once('exit', () => resolve()));
      const client = new Kafka({ clientId: 'private-kafka-check', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1_000 });
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`private Kafka exited during start-up:\n${output}`);
        const admin = client.admin();
        try {
          await admin.connect();
          await admin.listTopics();
          await admin.disconnect();
          return;
        } catch {
          await admin.disconnect().catch(() => undefined);
        }
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`private Kafka did not answer within ${timeoutMs} ms:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
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
