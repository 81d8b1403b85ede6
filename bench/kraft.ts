/**
 * Single-node KRaft brokers of their own, for benchmarks and tests that must not share the broker
 * scripts/infra/up.sh starts (they stop it, pin it to a CPU, or secure its listeners). Same jars
 * (`.cache/kafka/libs`), same JVM flags and broker settings as scripts/infra/lib.sh; its own ports
 * and directory.
 *
 *   const k = prepareKraft({ dir, controllerPort, listeners: { PLAINTEXT: port } });
 *   spawn('java', [...k.java, 'kafka.Kafka', k.props]);
 *   await waitForKafka(`127.0.0.1:${port}`, child, 90_000, () => output);
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { REPO } from './machine.js';

export const KAFKA_LIBS = join(REPO, '.cache', 'kafka', 'libs');
const LOG4J = join(REPO, 'scripts', 'infra', 'kafka-log4j2.properties');
// base64url of 16 bytes: a valid KRaft cluster id, distinct from the shared broker's
const CLUSTER_ID = 'cHJpdmF0ZS1rYWZrYS0xMg';

const jarsFetched = (): boolean => existsSync(KAFKA_LIBS) && readdirSync(KAFKA_LIBS).some((f) => f.startsWith('kafka_2.13-'));

/** The broker jars are there (scripts/infra/up.sh fetched them) and `java` runs. */
export function kafkaJarsPresent(): boolean {
  return jarsFetched() && spawnSync('java', ['-version']).status === 0;
}

export interface KraftOptions {
  /** Data in `dir/data`, logs in `dir/logs`, settings in `dir/server.properties`. */
  readonly dir: string;
  readonly controllerPort: number;
  /**
   * Broker listeners on 127.0.0.1, name → port; each name is also its security protocol (PLAINTEXT,
   * SSL, SASL_PLAINTEXT, SASL_SSL). PLAINTEXT is required: brokers talk to themselves over it.
   */
  readonly listeners: Readonly<Record<string, number>>;
  /** Default partitions of a new topic (3). */
  readonly partitions?: number;
  /** More `key=value` lines (SASL and TLS settings). */
  readonly extra?: readonly string[];
  /** JVM heap ceiling (384m). */
  readonly heap?: string;
}

export interface PreparedKraft {
  /** The server.properties path, to pass to `kafka.Kafka`. */
  readonly props: string;
  /** java arguments up to the main class: JVM flags, logging, class path. */
  readonly java: readonly string[];
}

/** Writes the settings and formats the storage (idempotent: a second call keeps the data). */
export function prepareKraft(o: KraftOptions): PreparedKraft {
  if (!jarsFetched()) {
    throw new Error(`Kafka jars not found in ${KAFKA_LIBS}; run \`npm run infra:up\` once to fetch them`);
  }
  if (o.listeners.PLAINTEXT === undefined) throw new Error('prepareKraft: a PLAINTEXT listener is required');
  const data = join(o.dir, 'data');
  const logs = join(o.dir, 'logs');
  mkdirSync(data, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const names = Object.keys(o.listeners);
  const at = (name: string, port: number): string => `${name}://127.0.0.1:${port}`;
  const props = join(o.dir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
      `listeners=${[...names.map((n) => at(n, o.listeners[n]!)), at('CONTROLLER', o.controllerPort)].join(',')}`,
      `advertised.listeners=${names.map((n) => at(n, o.listeners[n]!)).join(',')}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `listener.security.protocol.map=${[...names.map((n) => `${n}:${n}`), 'CONTROLLER:PLAINTEXT'].join(',')}`,
      ...(o.extra ?? []),
      `log.dirs=${data}`,
      `num.partitions=${o.partitions ?? 3}`,
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
  const java = [
    '-Xms128m',
    `-Xmx${o.heap ?? '384m'}`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J}`,
    `-Dkafka.logs.dir=${logs}`,
    '-cp',
    `${KAFKA_LIBS}/*`,
  ];
  const format = spawnSync('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', CLUSTER_ID, '-c', props, '--ignore-formatted'], { encoding: 'utf8', timeout: 120_000 });
  if (format.status !== 0) throw new Error(`kafka storage format failed: ${(format.stderr || format.stdout || String(format.error)).slice(-2000)}`);
  return { props, java };
}

/**
 * Resolves once a client can list topics on `brokers`; throws (and SIGKILLs the child) when the
 * broker exits or does not answer within `timeoutMs`, with the tail of its output.
 */
export async function waitForKafka(brokers: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const client = new Kafka({ clientId: 'private-kafka-check', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1_000 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Kafka on ${brokers} exited during start-up:\n${output()}`);
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
      throw new Error(`Kafka on ${brokers} did not answer within ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
