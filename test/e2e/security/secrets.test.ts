/**
 * Secrets never leave the sidecar, and the admin surface is not on the public port. A sidecar
 * process with Redis (store and control plane), Kafka events and RW_HASH_KEY receives requests
 * carrying an API key (header and query), a bearer token and a cookie; afterwards none of them
 * appears in clear in any Redis key, any Kafka message key or value, any log line or the metrics —
 * only the HMAC id `ratewarden key-id` prints. (test/e2e/sidecar/twoSidecars.test.ts checks the
 * events of two sidecars without RW_HASH_KEY; test/integration/operator/cli.test.ts that
 * `blocks add --api-key -` hashes locally.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { apiKeyId } from '../../../models/clientKey.js';
import { parseSidecarArgs } from '../../../sidecar/config.js';
import { childEnv, connectRedis, createTopics, deleteTopics, dropKeys, infraEnv, requireKafka, uniqueName } from '../../helpers/infra.js';
import { httpRequest, runRatewarden, startSidecarProcess, startStubUpstream, waitFor, type SidecarProcess, type StubUpstream } from '../../helpers/proc.js';

const HASH_KEY = 'rw-e2e-hash-key-' + Math.random().toString(36).slice(2);
const API_KEY = 'sk_live_TOPSECRET_' + Math.random().toString(36).slice(2);
const QUERY_KEY = 'sk_query_TOPSECRET_' + Math.random().toString(36).slice(2);
const TOKEN = 'tok_TOPSECRET_' + Math.random().toString(36).slice(2);
const COOKIE = 'sess_TOPSECRET_' + Math.random().toString(36).slice(2);
const SECRETS = [API_KEY, QUERY_KEY, TOKEN, COOKIE, HASH_KEY];
const prefix = uniqueName('sec-hash');
const ctl = uniqueName('sec-hash-ctl');
const topic = uniqueName('sec-hash-events');

let redis: Redis;
let kafka: Kafka;
let up: StubUpstream;
let sc: SidecarProcess;

before(async () => {
  redis = await connectRedis();
  kafka = await requireKafka();
  await createTopics(kafka, [{ topic, numPartitions: 1 }]);
  up = await startStubUpstream();
  sc = await startSidecarProcess({
    policy: `version: 1
identity: { apiKey: { header: x-api-key, query: api_key } }
store: { kind: redis, keyPrefix: ${prefix} }
events: { linger: 10ms }
rules:
  - { id: per-key, key: [apiKey], algorithm: sliding-window-log, limit: 100, window: 1m }
  - { id: per-auth, key: ["header:authorization"], algorithm: token-bucket, rate: 100/s, burst: 100 }
  - { id: per-cookie, key: ["header:cookie", ip], algorithm: fixed-window, limit: 100, window: 1m }
`,
    upstream: up.url,
    env: childEnv({ REDIS_URL: infraEnv().REDIS_URL!, KAFKA_BROKERS: infraEnv().KAFKA_BROKERS!, RW_EVENTS_TOPIC: topic, RW_CTL_PREFIX: ctl, RW_HASH_KEY: HASH_KEY }),
  });
});

after(async () => {
  await sc?.stop();
  await up?.close();
  await dropKeys(redis, ctl, [`{${prefix}:*`]);
  await deleteTopics(kafka, [topic]);
});

function assertNoSecret(where: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} holds a secret in clear (${s.slice(0, 12)}…)`);
}

test('API keys, tokens and cookies appear only as HMAC ids in Redis keys, Kafka events, logs and metrics', { timeout: 60_000 }, async () => {
  const headers = { 'x-api-key': API_KEY, authorization: `Bearer ${TOKEN}`, cookie: `session=${COOKIE}` };
  for (let i = 0; i < 3; i++) assert.equal((await httpRequest(`${sc.url}/a/${i}`, { headers })).status, 200);
  assert.equal((await httpRequest(`${sc.url}/q?api_key=${QUERY_KEY}`)).status, 200);

  const id = apiKeyId(API_KEY, HASH_KEY);
  assert.notEqual(id, apiKeyId(API_KEY, undefined), 'RW_HASH_KEY changes the id (HMAC, not a bare SHA-256)');
  const cli = await runRatewarden(['key-id', API_KEY], { env: childEnv({ RW_HASH_KEY: HASH_KEY }) });
  assert.match(cli.stdout, new RegExp(`apiKey:${id}`));

  // Redis: every key the store wrote
  const keys = await redis.keys(`{${prefix}:*`);
  assert.ok(keys.length >= 3);
  assert.ok(keys.some((k) => k.includes(`apiKey:${id}`)));
  assertNoSecret('a Redis key', keys.join('\n'));
  for (const k of keys) if ((await redis.type(k)) === 'zset') assertNoSecret(`members of ${k}`, (await redis.zrange(k, 0, -1)).join('\n'));

  // Kafka: every event, key and value
  const consumer = kafka.consumer({ groupId: uniqueName('sec-hash-check') });
  const messages: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void messages.push(`${message.key?.toString()} ${message.value?.toString()}`) });
  try {
    await waitFor(() => messages.length >= 4 || null, '4 events', 20_000, 100);
  } finally {
    await consumer.disconnect();
  }
  assert.ok(messages.some((m) => m.startsWith(`apiKey:${id} `)));
  assertNoSecret('a Kafka event', messages.join('\n'));

  // logs and metrics
  assertNoSecret('the sidecar output', sc.output());
  assertNoSecret('/metrics', (await httpRequest(sc.adminUrl + '/metrics')).text);
});

test('the admin endpoints are not on the public port, and the admin listener defaults to loopback', async () => {
  for (const path of ['/metrics', '/healthz', '/readyz']) {
    const pub = await httpRequest(sc.url + path);
    assert.equal(pub.headers['x-upstream'], 'stub', `${path} on the public port is the upstream's`);
    assert.equal((await httpRequest(sc.adminUrl + path)).headers['x-upstream'], undefined);
  }
  const defaults = parseSidecarArgs(['--config', 'f.yaml', '--upstream', 'http://127.0.0.1:3000'], {});
  assert.deepEqual(defaults.admin, { host: '127.0.0.1', port: 9091 });
  assert.deepEqual(defaults.listen, { host: '0.0.0.0', port: 8080 });
});
