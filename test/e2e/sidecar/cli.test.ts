/**
 * `ratewarden sidecar` as a command: start-up errors exit 2 with a clear message before anything
 * listens; a good start prints one JSON ready line; SIGTERM drains and exits 0; secrets never reach
 * the logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv } from '../../helpers/infra.js';
import { freePort, httpRequest, metricValue, runRatewarden, startSidecarProcess, startStubUpstream, tempDir } from '../../helpers/proc.js';

function policyFile(text: string): string {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

const MEMORY = 'version: 1\nidentity: { apiKey: { header: x-api-key } }\nstore: { kind: memory }\nrules:\n  - { id: k, key: [apiKey], algorithm: fixed-window, limit: 100, window: 1h }\n';

test('store.kind redis without REDIS_URL or REDIS_CLUSTER_NODES exits 2 and says what is missing', async () => {
  const file = policyFile('version: 1\nstore: { kind: redis }\nrules:\n  - { id: g, key: [global], algorithm: token-bucket, rate: 10/s, burst: 10 }\n');
  const r = await runRatewarden(['sidecar', '--config', file, '--upstream', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: childEnv() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /REDIS_URL/);
  assert.match(r.stderr, /REDIS_CLUSTER_NODES/);
});

test('a JWT secret variable that is not set exits 2 naming it', async () => {
  const file = policyFile('version: 1\nidentity: { jwt: { algorithms: [HS256], secretEnv: RW_E2E_MISSING_SECRET } }\nrules:\n  - { id: u, key: [user], algorithm: token-bucket, rate: 10/s, burst: 10 }\n');
  const r = await runRatewarden(['sidecar', '--config', file, '--upstream', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: childEnv() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /RW_E2E_MISSING_SECRET/);
  assert.match(r.stderr, /RW_CONFIG_IDENTITY/);
});

test('an HS256 secret shorter than 32 bytes exits 2 with one line naming the variable and the length, never the secret', async () => {
  const file = policyFile('version: 1\nidentity: { jwt: { algorithms: [HS256], secretEnv: RW_E2E_SHORT_SECRET } }\nstore: { kind: memory }\nrules:\n  - { id: u, key: [user], algorithm: token-bucket, rate: 10/s, burst: 10 }\n');
  const secret = 'short-jwt-secret-7f3a';
  const r = await runRatewarden(['sidecar', '--config', file, '--upstream', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: childEnv({ RW_E2E_SHORT_SECRET: secret }) });
  assert.equal(r.code, 2);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /RW_E2E_SHORT_SECRET is 21 bytes; HS256 needs at least 32 .*\[RW_CONFIG_IDENTITY\]/);
  assert.ok(!`${r.stdout}${r.stderr}`.includes(secret), 'the secret is never printed');
});

test('a policy with errors exits 2 listing each error with its path', async () => {
  const file = policyFile('version: 1\nrules:\n  - { id: a, key: [ip], algorithm: fixed-window, limit: 0, window: 10x }\n');
  const r = await runRatewarden(['sidecar', '--config', file, '--upstream', 'http://127.0.0.1:1'], { env: childEnv() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /rules\[0\]\.window/);
  assert.match(r.stderr, /not starting/);
});

test('--help prints the usage and exits 0 for every command; an unknown option of check exits 2 with the usage, not a stack trace', async () => {
  for (const command of ['sidecar', 'analyzer', 'check', 'replay', 'key-id', 'blocks', 'anomalies']) {
    const r = await runRatewarden([command, '--help'], { env: childEnv() });
    assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
    assert.match(r.stdout, /usage:\s+ratewarden/, command);
  }
  const bad = await runRatewarden(['check', '--frobnicate', policyFile(MEMORY)], { env: childEnv() });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /usage: ratewarden check/);
  assert.doesNotMatch(bad.stderr, /    at /);
  const dash = await runRatewarden(['key-id', '--nope'], { env: childEnv() });
  assert.equal(dash.code, 2);
  assert.doesNotMatch(dash.stdout, /apiKey:/);
});

test('a missing --upstream exits 2 with the usage', async () => {
  const r = await runRatewarden(['sidecar', '--config', policyFile(MEMORY)], { env: childEnv() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--upstream/);
});

test('it starts with events disabled when KAFKA_BROKERS is unset, keeps /metrics off the public port, never logs secrets, and drains on SIGTERM', async () => {
  const up = await startStubUpstream();
  const sc = await startSidecarProcess({ policy: MEMORY, upstream: up.url, env: childEnv() });
  try {
    assert.ok(sc.logs.some((l) => l.msg === 'events disabled: KAFKA_BROKERS is not set'));
    assert.equal(sc.logs.filter((l) => l.msg === 'ready').length, 1);
    assert.match(String(sc.ready.admin), /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(sc.ready.admin, sc.ready.listen);
    // the public port proxies everything, /metrics included: it is the upstream that answers
    const pub = await httpRequest(sc.url + '/metrics', { headers: { 'x-api-key': 'cli-secret-key' } });
    assert.equal(pub.headers['x-upstream'], 'stub');
    const adm = await httpRequest(sc.adminUrl + '/metrics');
    assert.match(adm.text, /ratewarden_requests_total/);
    assert.ok(!adm.text.includes('cli-secret-key'));
    // hostile input in path and headers, and an upstream failure: nothing of it is logged in clear
    await httpRequest(sc.url + '/x%0A%7B%22msg%22%3A%22forged%22%7D?api_key=cli-secret-key', { headers: { 'x-api-key': 'cli-secret-key', 'user-agent': 'evil"}{"msg":"forged"}', authorization: 'Bearer cli-secret-token' } });
  } finally {
    const exit = await sc.stop('SIGTERM');
    await up.close();
    assert.equal(exit.code, 0);
  }
  assert.ok(sc.logs.some((l) => l.msg === 'draining'));
  assert.ok(sc.logs.some((l) => l.msg === 'stopped'));
  const all = sc.output();
  assert.ok(!all.includes('cli-secret-key') && !all.includes('cli-secret-token'));
  assert.ok(!all.includes('forged'));
});

test('with a shutdown delay, SIGTERM first makes /readyz 503 while requests are still served, then drains and exits 0', async () => {
  const up = await startStubUpstream();
  const sc = await startSidecarProcess({ policy: MEMORY, upstream: up.url, env: { ...childEnv(), RW_SHUTDOWN_DELAY: '2' } });
  try {
    assert.equal((await httpRequest(sc.adminUrl + '/readyz')).status, 200);
    sc.proc.kill('SIGTERM');
    await sc.waitForLog((l) => l.msg === 'not ready; serving until the shutdown delay ends, then draining', 5_000);
    assert.equal((await httpRequest(sc.adminUrl + '/readyz')).status, 503);
    const during = await httpRequest(sc.url + '/still-served');
    assert.equal(during.status, 200, 'a request arriving during the delay is served, not refused');
    assert.equal(during.headers['x-upstream'], 'stub');
    const exit = await sc.exited;
    assert.equal(exit.code, 0);
    assert.ok(sc.logs.some((l) => l.msg === 'draining'));
  } finally {
    if (sc.proc.exitCode === null) await sc.stop('SIGKILL');
    await up.close();
  }
});

test('with Redis unreachable and failMode open it still starts in bounded time, limits locally and reports ready', async () => {
  const up = await startStubUpstream();
  const deadPort = await freePort();
  const t0 = Date.now();
  const sc = await startSidecarProcess({
    policy: 'version: 1\nstore: { kind: redis, failMode: open }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 3, window: 1h }\n',
    upstream: up.url,
    env: childEnv({ REDIS_URL: `redis://127.0.0.1:${deadPort}` }),
  });
  try {
    assert.ok(Date.now() - t0 < 15_000, `start took ${Date.now() - t0} ms`);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await httpRequest(sc.url + '/x')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal((await httpRequest(sc.adminUrl + '/readyz')).status, 200);
    const text = (await httpRequest(sc.adminUrl + '/metrics')).text;
    assert.ok(metricValue(text, 'ratewarden_store_errors_total')! >= 1);
    assert.equal(metricValue(text, 'ratewarden_store_healthy'), 0);
  } finally {
    await sc.stop();
    await up.close();
  }
});
