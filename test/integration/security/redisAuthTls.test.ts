/**
 * Redis AUTH and TLS, on private redis-servers (a password; TLS only, with a throwaway CA made by
 * openssl in a temp dir). The sidecar authenticates with the password in REDIS_URL and trusts the
 * CA in REDIS_TLS_CA_FILE; its counters and the control plane live behind both. A wrong or missing
 * password, or a certificate it cannot verify, is a misconfiguration: it refuses to start with exit 2
 * and says why — it does not run for ever on fail-open limits. (A Redis that is merely unreachable
 * still starts under failMode: test/e2e/sidecar/cli.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { controlKeys } from '../../../models/control.js';
import { childEnv, uniqueName } from '../../helpers/infra.js';
import { httpRequest, runRatewarden, startSidecarProcess, startStubUpstream, tempDir, waitFor, type StubUpstream } from '../../helpers/proc.js';
import { startPrivateRedis, type PrivateRedis } from '../../chaos/lib/privateRedis.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PASSWORD = 'rw-test-p@ss/word:0123';
let plain: PrivateRedis;
let tls: PrivateRedis;
let up: StubUpstream;

const policy = (prefix: string): string => `version: 1
identity: { trustedProxies: [127.0.0.1/32] }
store: { kind: redis, failMode: open, keyPrefix: ${prefix} }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: 2, window: 1h }
`;

before(async () => {
  [plain, tls] = await Promise.all([startPrivateRedis({ password: PASSWORD }), startPrivateRedis({ password: PASSWORD, tls: true })]);
  up = await startStubUpstream();
});

after(async () => {
  await up?.close();
  await Promise.all([plain?.stop(), tls?.stop()]);
});

function file(text: string): string {
  const f = join(tempDir(), 'policy.yaml');
  writeFileSync(f, text);
  return f;
}

async function enforcedBehind(server: PrivateRedis, env: Record<string, string>): Promise<void> {
  const prefix = uniqueName('sec');
  const ctl = uniqueName('sec-ctl');
  const sc = await startSidecarProcess({ policy: policy(prefix), upstream: up.url, env: childEnv({ ...env, RW_CTL_PREFIX: ctl }) });
  const admin = new Redis(server.url, server.tls ? { tls: { ca: readFileSync(server.tls.caFile) } } : {});
  try {
    const who = { 'x-forwarded-for': '192.0.2.10' };
    const got: number[] = [];
    for (let i = 0; i < 3; i++) got.push((await httpRequest(sc.url + '/x', { headers: who })).status);
    assert.deepEqual(got, [200, 200, 429]);
    assert.equal((await httpRequest(sc.url + '/x', { headers: who })).headers['x-ratelimit-limit'], '2', 'decided in Redis (not the fail-open fallback)');
    assert.ok((await admin.keys(`{${prefix}:*`)).length >= 1, 'the counter lives in this Redis');
    // the control plane works over the same connection settings
    const k = controlKeys(ctl);
    const seq = await admin.incr(k.seq);
    const value = { until: Date.now() + 60_000, reason: 'sec', seq };
    await admin.hset(k.blocks, 'ip:192.0.2.11', JSON.stringify(value));
    await admin.publish(k.channel, JSON.stringify({ v: 1, seq, kind: 'block', field: 'ip:192.0.2.11', value }));
    await waitFor(async () => (await httpRequest(sc.url + '/x', { headers: { 'x-forwarded-for': '192.0.2.11' } })).status === 403 || null, 'the block', 5_000);
  } finally {
    admin.disconnect();
    await sc.stop();
  }
}

test('AUTH: with the password in REDIS_URL the sidecar counts in Redis and follows its control plane', async () => {
  await enforcedBehind(plain, { REDIS_URL: plain.url });
});

test('AUTH: with the password in REDIS_PASSWORD (as the helm chart passes it) the sidecar starts and counts in Redis', async () => {
  await enforcedBehind(plain, { REDIS_URL: `redis://127.0.0.1:${plain.port}`, REDIS_PASSWORD: PASSWORD });
});

test('AUTH: a wrong or a missing password exits 2 naming the refusal, before anything listens', async () => {
  const f = file(policy('sec-wrong'));
  const args = ['sidecar', '--config', f, '--upstream', up.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
  const wrong = await runRatewarden(args, { env: childEnv({ REDIS_URL: `redis://:not-it@127.0.0.1:${plain.port}` }) });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /Redis refused the credentials: WRONGPASS/);
  assert.ok(!wrong.stderr.includes('not-it'), 'the password is not echoed');
  const missing = await runRatewarden(args, { env: childEnv({ REDIS_URL: `redis://127.0.0.1:${plain.port}` }) });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /NOAUTH/);
  assert.ok(!wrong.stdout.includes('"ready"') && !missing.stdout.includes('"ready"'));
});

test('AUTH: the analyzer also refuses a wrong password with exit 2', { timeout: 60_000 }, async () => {
  const r = await runRatewarden(['analyzer', '--config', file(policy('sec-an')), '--listen', '127.0.0.1:0'], {
    env: childEnv({ REDIS_URL: `redis://:not-it@127.0.0.1:${plain.port}`, KAFKA_BROKERS: '127.0.0.1:1', RW_ADMIN_TOKEN: 'sec-admin-token' }),
    timeoutMs: 50_000,
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /ratewarden analyzer: Redis refused the credentials: WRONGPASS/);
});

test('TLS: rediss:// with the CA in REDIS_TLS_CA_FILE (and AUTH) works end to end', async () => {
  await enforcedBehind(tls, { REDIS_URL: tls.url, REDIS_TLS_CA_FILE: tls.tls!.caFile });
});

test('TLS: a server certificate the sidecar cannot verify exits 2 saying TLS failed', async () => {
  const r = await runRatewarden(['sidecar', '--config', file(policy('sec-tls')), '--upstream', up.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: childEnv({ REDIS_URL: tls.url }) });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /TLS to Redis failed: .*certificate/i);
});
