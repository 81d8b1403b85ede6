/**
 * The operator CLI as operators run it: `ratewarden anomalies …` and `ratewarden blocks …` as child
 * processes against a running operator API on real Redis.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { apiKeyId } from '../../../models/clientKey.js';
import { controlKeys, type ControlKeys } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import { childEnv, connectRedis, ROOT, uniqueName } from '../../helpers/infra.js';
import { ADMIN, startOperatorServer, type OperatorServer } from './fixtures.js';

let redis: Redis;
let keys: ControlKeys;
let server: OperatorServer;

before(async () => {
  redis = await connectRedis();
  keys = controlKeys(uniqueName('rwtest-opcli'));
  server = await startOperatorServer({ plane: new RedisControlPlane(redis, keys) });
});

after(async () => {
  await server?.close();
  if (keys) await redis.del(keys.blocks, keys.overrides, keys.load, keys.seq);
  redis?.disconnect();
});

function cli(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), ...args], {
      env: childEnv({ RW_ADMIN_TOKEN: ADMIN, RW_ANALYZER_URL: server.url, RW_OPERATOR: 'ci-bot', ...opts.env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

test('anomalies list prints an aligned table, newest first', async () => {
  const { code, stdout } = await cli(['anomalies', 'list']);
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+DETECTED\s+CLIENT\s+SCORE\s+DETECTORS\s+ACTION\s+STATUS\s+SUMMARY$/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), ['an-attacker', 'an-scraper', 'an-pending', 'an-observe']);
  const clientCol = lines[0]!.indexOf('CLIENT');
  for (const line of lines.slice(1)) assert.match(line.slice(clientCol), /^(apiKey|ip|user):/);
});

test('anomalies list --json prints the API page as JSON', async () => {
  const { code, stdout } = await cli(['anomalies', 'list', '--status', 'pending', '--json']);
  assert.equal(code, 0);
  const page = JSON.parse(stdout);
  assert.deepEqual(page.items.map((r: { id: string }) => r.id), ['an-pending']);
  assert.equal(page.next, null);
});

test('anomalies show prints the facts, the explanation table and the history', async () => {
  const { code, stdout } = await cli(['anomalies', 'show', 'an-attacker']);
  assert.equal(code, 0);
  assert.match(stdout, /^client:\s+apiKey:4bc3c1d3a4f2b7e1$/m);
  assert.match(stdout, /^requests_10s\s+412\s+48\s+6\s+60\.7\s+robust_z/m);
  assert.match(stdout, /analyzer\s+detected/);
});

test('anomalies dismiss lifts the block in Redis and records the operator', async () => {
  assert.ok(await redis.hget(keys.blocks, 'apiKey:4bc3c1d3a4f2b7e1'));
  const { code, stdout } = await cli(['anomalies', 'dismiss', 'an-attacker', '--note', 'load test']);
  assert.equal(code, 0, stdout);
  assert.match(stdout, /an-attacker: dismissed/);
  assert.equal(await redis.hget(keys.blocks, 'apiKey:4bc3c1d3a4f2b7e1'), null);
  const report = server.backend.reports.get('an-attacker')!;
  assert.ok(report.history.some((h) => h.what === 'dismissed' && h.who === 'ci-bot (admin)' && h.note === 'load test'));
});

test('an operator name outside Latin-1 still reaches the analyzer, as the API would clean it', async () => {
  const { code, stdout, stderr } = await cli(['anomalies', 'list', '--json'], { env: { RW_OPERATOR: '李雷' } });
  assert.equal(code, 0, stdout + stderr);
  assert.ok(Array.isArray(JSON.parse(stdout).items));
});

test('blocks add --api-key - hashes the key locally with RW_HASH_KEY; the raw key never reaches the analyzer or Redis', async () => {
  const secret = 'sk_live_operator_test_key';
  const { code, stdout } = await cli(['blocks', 'add', '--api-key', '-', '--ttl', '5m', '--reason', 'leaked key', '--json'], { stdin: secret + '\n', env: { RW_HASH_KEY: 'pepper' } });
  assert.equal(code, 0);
  const client = `apiKey:${apiKeyId(secret, 'pepper')}`;
  assert.equal(JSON.parse(stdout).client, client);
  const stored = JSON.parse((await redis.hget(keys.blocks, client))!);
  assert.equal(stored.reason, 'leaked key');
  const all = JSON.stringify(await redis.hgetall(keys.blocks));
  assert.ok(!all.includes(secret));
});

test('blocks list shows the block with its time left, and blocks remove lifts it', async () => {
  const list = await cli(['blocks', 'list']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^CLIENT\s+UNTIL\s+LEFT\s+ANOMALY\s+REASON$/m);
  assert.match(list.stdout, /^apiKey:[0-9a-f]{16}\s+\S+Z\s+\d+m\d\ds\s+-\s+leaked key$/m);
  const client = `apiKey:${apiKeyId('sk_live_operator_test_key', 'pepper')}`;
  const removed = await cli(['blocks', 'remove', client]);
  assert.equal(removed.code, 0);
  assert.equal(await redis.hget(keys.blocks, client), null);
});

test('blocks add --api-key reads the key as a sidecar reads a request\'s: trimmed, and one over 512 characters is a usage error that writes nothing', async () => {
  const padded = await cli(['blocks', 'add', '--api-key', ' sk_padded_key\t', '--ttl', '5m', '--json'], { env: { RW_HASH_KEY: 'pepper' } });
  assert.equal(padded.code, 0, padded.stderr);
  const client = `apiKey:${apiKeyId('sk_padded_key', 'pepper')}`;
  assert.equal(JSON.parse(padded.stdout).client, client);
  assert.ok(await redis.hget(keys.blocks, client));
  assert.equal((await cli(['blocks', 'remove', client])).code, 0);
  const before = await redis.hlen(keys.blocks);
  const long = await cli(['blocks', 'add', '--api-key', 'k'.repeat(513), '--ttl', '5m'], { env: { RW_HASH_KEY: 'pepper' } });
  assert.equal(long.code, 2, long.stderr);
  assert.match(long.stderr, /--api-key: the API key is 513 characters; a sidecar reads one over 512 as no key/);
  assert.equal(await redis.hlen(keys.blocks), before);
});

test('an API error exits 1 with the reason, a usage error exits 2 with the usage', async () => {
  const wrong = await cli(['blocks', 'list'], { env: { RW_ADMIN_TOKEN: 'wrong' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /HTTP 401/);
  const usage = await cli(['blocks', 'add', 'not-a-key', '--ttl', '5m']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage:/);
  const conflict = await cli(['anomalies', 'approve', 'an-observe']);
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /409/);
});

test('an unreachable analyzer exits 1 and says where it looked', async () => {
  const { code, stderr } = await cli(['anomalies', 'list', '--url', 'http://127.0.0.1:9']);
  assert.equal(code, 1);
  assert.match(stderr, /cannot reach the analyzer at http:\/\/127\.0\.0\.1:9/);
});
