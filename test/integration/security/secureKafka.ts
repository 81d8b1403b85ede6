/**
 * A private single-node KRaft Kafka with secured listeners, for the SASL/TLS tests: PLAINTEXT (for
 * the test's own checks), SSL, SASL_PLAINTEXT and SASL_SSL (mechanism PLAIN), with a certificate
 * from a throwaway CA (PEM keystore, KIP-651). Same jars as scripts/infra; its own ports and dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ROOT } from '../../helpers/infra.js';
import { freePort, tempDir } from '../../helpers/proc.js';
import { makeTlsFiles, type TlsFiles } from '../../chaos/lib/privateRedis.js';

const LIBS = join(ROOT, '.cache', 'kafka', 'libs');
const LOG4J = join(ROOT, 'scripts', 'infra', 'kafka-log4j2.properties');
const JVM = ['-Xms128m', '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true'];
const CLUSTER_ID = 'c2VjdXJlLWthZmthLXRlc3Q';

export const SASL_USER = 'rw-sidecar';
export const SASL_PASSWORD = 'rw-sidecar-secret';

export interface SecureKafka {
  readonly plaintext: string;
  readonly ssl: string;
  readonly saslPlaintext: string;
  readonly saslSsl: string;
  readonly tls: TlsFiles;
  stop(): Promise<void>;
}

export async function startSecureKafka(timeoutMs = 90_000): Promise<SecureKafka> {
  if (!existsSync(LIBS) || !readdirSync(LIBS).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new Error(`Kafka jars not found in ${LIBS}; run \`npm run infra:up\` once to fetch them`);
  }
  const ports: number[] = [];
  while (ports.length < 5) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const [plain, ssl, saslPlain, saslSsl, controller] = ports as [number, number, number, number, number];
  const dir = tempDir('rw-kafka-sec-');
  const tls = makeTlsFiles();
  // PEM keystore: the private key (PKCS#8, unencrypted) and the certificate in one file
  const keystore = join(dir, 'keystore.pem');
  writeFileSync(keystore, readFileSync(tls.keyFile, 'utf8') + readFileSync(tls.certFile, 'utf8'));
  mkdirSync(join(dir, 'data'));
  mkdirSync(join(dir, 'logs'));
  const jaas = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_${SASL_USER}="${SASL_PASSWORD}";`;
  const props = join(dir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${plain},SSL://127.0.0.1:${ssl},SASL_PLAINTEXT://127.0.0.1:${saslPlain},SASL_SSL://127.0.0.1:${saslSsl},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${plain},SSL://127.0.0.1:${ssl},SASL_PLAINTEXT://127.0.0.1:${saslPlain},SASL_SSL://127.0.0.1:${saslSsl}`,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'sasl.enabled.mechanisms=PLAIN',
      `listener.name.sasl_plaintext.plain.sasl.jaas.config=${jaas}`,
      `listener.name.sasl_ssl.plain.sasl.jaas.config=${jaas}`,
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${keystore}`,
      'ssl.client.auth=none',
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=2',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      'num.network.threads=2',
      'num.io.threads=2',
      '',
    ].join('\n'),
  );
  const java = (args: string[]) => [...JVM, `-Dlog4j2.configurationFile=${LOG4J}`, `-Dkafka.logs.dir=${join(dir, 'logs')}`, '-cp', `${LIBS}/*`, ...args];
  const format = spawnSync('java', java(['kafka.tools.StorageTool', 'format', '-t', CLUSTER_ID, '-c', props, '--ignore-formatted']), { encoding: 'utf8', timeout: 120_000 });
  if (format.status !== 0) throw new Error(`kafka storage format failed: ${format.stderr || format.stdout}`);
  let output = '';
  const child: ChildProcess = spawn('java', java(['kafka.Kafka', props]), { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-6000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-6000)));
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    process.off('exit', kill);
  };
  const client = new Kafka({ clientId: 'secure-kafka-check', brokers: [`127.0.0.1:${plain}`], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1_000 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`secured Kafka exited during start-up:\n${output}`);
    const admin = client.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      await admin.disconnect();
      break;
    } catch {
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`secured Kafka did not answer within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const at = (p: number): string => `127.0.0.1:${p}`;
  return { plaintext: at(plain), ssl: at(ssl), saslPlaintext: at(saslPlain), saslSsl: at(saslSsl), tls, stop };
}
