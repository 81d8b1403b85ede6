/**
 * Kafka SASL and TLS on a private broker with secured listeners (secureKafka.ts). The sidecar
 * publishes its events through the lean producer over TLS (KAFKA_SSL, KAFKA_CA_FILE), and through
 * kafkajs when SASL is configured (KAFKA_SASL_MECHANISM/USERNAME/PASSWORD, here over TLS too); the
 * analyzer's connection settings (createKafka) authenticate the same way. A wrong SASL password
 * never costs a client request: events are not delivered and the failures are counted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { decodeCallEvent } from '../../../models/events.js';
import { createKafka, kafkaConnectionFromEnv } from '../../../models/infra.js';
import { childEnv, uniqueName } from '../../helpers/infra.js';
import { httpRequest, metricValue, startSidecarProcess, startStubUpstream, waitFor, type StubUpstream } from '../../helpers/proc.js';
import { SASL_PASSWORD, SASL_USER, startSecureKafka, type SecureKafka } from './secureKafka.js';

let kafka: SecureKafka;
let up: StubUpstream;

const POLICY = 'version: 1\nidentity: { apiKey: { header: x-api-key } }\nstore: { kind: memory }\nevents: { linger: 10ms }\nrules:\n  - { id: k, key: [apiKey], algorithm: token-bucket, rate: 1000/s, burst: 1000 }\n';

before(async () => {
  kafka = await startSecureKafka();
  up = await startStubUpstream();
});

after(async () => {
  await up?.close();
  await kafka?.stop();
});

async function eventsOn(topic: string, count: number): Promise<string[]> {
  const consumer = new Kafka({ clientId: 'sec-check', brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).consumer({ groupId: uniqueName('sec-check') });
  const clients: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const d = decodeCallEvent(message.value!);
      if (d.ok) clients.push(d.value.client);
    },
  });
  try {
    await waitFor(() => clients.length >= count || null, `${count} events on ${topic}`, 20_000, 100);
  } finally {
    await consumer.disconnect();
  }
  return clients;
}

async function createTopic(topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'sec-setup', brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();
}

async function publishThrough(env: Record<string, string>, topic: string): Promise<{ producer: unknown; metrics: string }> {
  await createTopic(topic);
  const sc = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: childEnv({ ...env, RW_EVENTS_TOPIC: topic }) });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await httpRequest(`${sc.url}/x/${i}`, { headers: { 'x-api-key': 'sec-kafka-key' } })).status, 200);
    const producer = sc.logs.find((l) => l.msg === 'events to Kafka')?.producer;
    await waitFor(async () => (metricValue((await httpRequest(sc.adminUrl + '/metrics')).text, 'ratewarden_events_sent_total') ?? 0) >= 5 || null, 'events sent', 20_000, 100);
    return { producer, metrics: (await httpRequest(sc.adminUrl + '/metrics')).text };
  } finally {
    await sc.stop();
  }
}

test('TLS: the lean producer reaches an SSL listener with KAFKA_SSL and KAFKA_CA_FILE', { timeout: 60_000 }, async () => {
  const topic = uniqueName('sec-tls');
  const r = await publishThrough({ KAFKA_BROKERS: kafka.ssl, KAFKA_SSL: 'true', KAFKA_CA_FILE: kafka.tls.caFile }, topic);
  assert.equal(r.producer, 'lean');
  const clients = await eventsOn(topic, 5);
  assert.equal(clients.length, 5);
  assert.ok(clients.every((c) => /^apiKey:[0-9a-f]{16}$/.test(c)), 'API keys only hashed');
});

test('SASL PLAIN over TLS: with KAFKA_SASL_* the sidecar publishes through kafkajs and authenticates', { timeout: 60_000 }, async () => {
  const topic = uniqueName('sec-sasl');
  const r = await publishThrough({ KAFKA_BROKERS: kafka.saslSsl, KAFKA_CA_FILE: kafka.tls.caFile, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: SASL_USER, KAFKA_SASL_PASSWORD: SASL_PASSWORD }, topic);
  assert.equal(r.producer, 'kafkajs');
  assert.equal((await eventsOn(topic, 5)).length, 5);
});

test("the analyzer's connection settings (createKafka from the same env) authenticate with SASL over TLS", { timeout: 30_000 }, async () => {
  const conn = kafkaConnectionFromEnv({ KAFKA_BROKERS: kafka.saslSsl, KAFKA_CA_FILE: kafka.tls.caFile, KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: SASL_USER, KAFKA_SASL_PASSWORD: SASL_PASSWORD });
  assert.deepEqual({ ssl: conn!.ssl, mechanism: conn!.sasl?.mechanism }, { ssl: true, mechanism: 'plain' });
  const admin = createKafka(conn!, 'sec-analyzer').admin();
  await admin.connect();
  try {
    assert.ok(Array.isArray(await admin.listTopics()));
  } finally {
    await admin.disconnect();
  }
  const wrong = createKafka({ ...conn!, sasl: { ...conn!.sasl!, password: 'nope' } }, 'sec-analyzer-wrong').admin();
  await assert.rejects(
    wrong.connect().then(() => wrong.listTopics()),
    /SASL|[Aa]uthentication/,
  );
  await wrong.disconnect().catch(() => undefined);
});

test('a wrong SASL password costs no client request: events fail to send and are counted', { timeout: 60_000 }, async () => {
  const sc = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: childEnv({ KAFKA_BROKERS: kafka.saslPlaintext, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: SASL_USER, KAFKA_SASL_PASSWORD: 'wrong', RW_EVENTS_TOPIC: uniqueName('sec-wrong') }) });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await httpRequest(`${sc.url}/x/${i}`, { headers: { 'x-api-key': 'k' } })).status, 200);
    await waitFor(async () => (metricValue((await httpRequest(sc.adminUrl + '/metrics')).text, 'ratewarden_events_send_errors_total') ?? 0) >= 1 || null, 'a counted send error', 30_000, 200);
    const text = (await httpRequest(sc.adminUrl + '/metrics')).text;
    assert.equal(metricValue(text, 'ratewarden_events_sent_total'), 0);
    assert.ok(!sc.output().includes('wrong"') && !sc.output().includes(':wrong'), 'the password is not logged');
  } finally {
    await sc.stop();
  }
});
