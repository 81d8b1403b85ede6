/**
 * A private single-node KRaft Kafka with secured listeners, for the SASL/TLS tests: PLAINTEXT (for
 * the test's own checks), SSL, SASL_PLAINTEXT and SASL_SSL (mechanism PLAIN), with a certificate
 * from a throwaway CA (PEM keystore, KIP-651). Launched with bench/kraft.ts; its own ports and dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareKraft, waitForKafka } from '../../../bench/kraft.js';
import { freePort, tempDir } from '../../helpers/proc.js';
import { makeTlsFiles, type TlsFiles } from '../../chaos/lib/privateRedis.js';

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
  const jaas = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_${SASL_USER}="${SASL_PASSWORD}";`;
  const { props, java } = prepareKraft({
    dir,
    controllerPort: controller,
    listeners: { PLAINTEXT: plain, SSL: ssl, SASL_PLAINTEXT: saslPlain, SASL_SSL: saslSsl },
    partitions: 2,
    extra: [
      'sasl.enabled.mechanisms=PLAIN',
      `listener.name.sasl_plaintext.plain.sasl.jaas.config=${jaas}`,
      `listener.name.sasl_ssl.plain.sasl.jaas.config=${jaas}`,
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${keystore}`,
      'ssl.client.auth=none',
    ],
  });
  let output = '';
  const child: ChildProcess = spawn('java', [...java, 'kafka.Kafka', props], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  try {
    await waitForKafka(`127.0.0.1:${plain}`, child, timeoutMs, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  const at = (p: number): string => `127.0.0.1:${p}`;
  return { plaintext: at(plain), ssl: at(ssl), saslPlaintext: at(saslPlain), saslSsl: at(saslSsl), tls, stop };
}
