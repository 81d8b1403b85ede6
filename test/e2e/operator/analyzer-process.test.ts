/**
 * `ratewarden analyzer` as it runs in production (Redis + Kafka, a child process) serves the
 * operator UI and API, and the operator CLI works against it: a report in the analyzer's Redis
 * report store is reviewed and dismissed from the CLI, and a block added from the CLI lands in the
 * control-plane hash of RW_CTL_PREFIX.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { controlKeys } from '../../../models/control.js';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { childEnv, connectRedis, infraEnv, requireKafka, uniqueName } from '../../helpers/infra.js';
import { runRatewarden, spawnRatewarden, tempDir, type RunningProcess } from '../../helpers/proc.js';
import { ADMIN, makeReport, READONLY, SEEDS } from '../../integration/operator/fixtures.js';

const POLICY = 'version: 1\nidentity: { apiKey: { header: x-api-key } }\nrules:\n  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 100, window: 60s }\nanalyzer:\n  actions:\n    - { minScore: 0.9, action: block, ttl: 10m }\n';

const ctlPrefix = uniqueName('rwtest-ope2e-ctl');
const reportsPrefix = uniqueName('rwtest-ope2e-rep');
let redis: Redis;
let analyzer: RunningProcess;
let url: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  redis = await connectRedis();
  await requireKafka();
  const store = new RedisReportStore(redis, { prefix: reportsPrefix });
  await store.create(makeReport(SEEDS[0]!, Date.now()));
  await redis.hset(controlKeys(ctlPrefix).blocks, SEEDS[0]!.client, JSON.stringify({ seq: 1, until: Date.now() + 600_000, reason: 'seeded', anomalyId: SEEDS[0]!.id }));
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, POLICY);
  env = childEnv({
    REDIS_URL: infraEnv().REDIS_URL!,
    KAFKA_BROKERS: infraEnv().KAFKA_BROKERS!,
    RW_ADMIN_TOKEN: ADMIN,
    RW_READONLY_TOKEN: READONLY,
    RW_CTL_PREFIX: ctlPrefix,
    RW_REPORTS_PREFIX: reportsPrefix,
    RW_EVENTS_TOPIC: uniqueName('rwtest-ope2e-events'),
    RW_GROUP_ID: uniqueName('rwtest-ope2e-group'),
    RW_LOG_LEVEL: 'info',
  });
  analyzer = spawnRatewarden(['analyzer', '--config', file, '--listen', '127.0.0.1:0', '--model', 'none'], { env });
  const started = await analyzer.waitForLog((l) => l.msg === 'analyzer started', 45_000);
  url = String(started.address);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

after(async () => {
  await analyzer?.stop('SIGTERM');
  if (redis) {
    const k = controlKeys(ctlPrefix);
    const stale = await redis.keys(`{${reportsPrefix}}*`);
    await redis.del(k.blocks, k.overrides, k.load, k.seq, ...stale);
    redis.disconnect();
  }
});

function cli(args: string[]) {
  return runRatewarden(args, { env: { ...env, RW_ANALYZER_URL: url, RW_OPERATOR: 'e2e' } });
}

test('the analyzer serves the UI without a token and the API only with one', { timeout: 20_000 }, async () => {
  const ui = await fetch(`${url}/ui/`);
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /ratewarden/);
  assert.equal((await fetch(`${url}/api/anomalies`)).status, 401);
  const me = await fetch(`${url}/api/whoami`, { headers: { authorization: `Bearer ${READONLY}` } });
  assert.deepEqual(await me.json(), { role: 'readonly', who: 'readonly' });
  assert.equal((await fetch(`${url}/api/openapi.json`)).status, 200);
});

test('the CLI lists the report from the Redis store and dismissing it lifts the block in RW_CTL_PREFIX', { timeout: 30_000 }, async () => {
  const list = await cli(['anomalies', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout).items.map((r: { id: string }) => r.id), [SEEDS[0]!.id]);
  const dismissed = await cli(['anomalies', 'dismiss', SEEDS[0]!.id, '--note', 'e2e']);
  assert.equal(dismissed.code, 0, dismissed.stderr);
  assert.equal(await redis.hget(controlKeys(ctlPrefix).blocks, SEEDS[0]!.client), null);
  const report = await new RedisReportStore(redis, { prefix: reportsPrefix }).get(SEEDS[0]!.id);
  assert.equal(report?.status, 'dismissed');
  assert.ok(report?.history.some((h) => h.what === 'dismissed' && h.who === 'e2e (admin)' && h.note === 'e2e'));
});

test('blocks add and remove from the CLI write the control-plane hash the sidecars read', { timeout: 30_000 }, async () => {
  const added = await cli(['blocks', 'add', 'ip:203.0.113.99', '--ttl', '2m', '--reason', 'e2e']);
  assert.equal(added.code, 0, added.stderr);
  const stored = JSON.parse((await redis.hget(controlKeys(ctlPrefix).blocks, 'ip:203.0.113.99'))!);
  assert.equal(stored.reason, 'e2e');
  const removed = await cli(['blocks', 'remove', 'ip:203.0.113.99']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(await redis.hget(controlKeys(ctlPrefix).blocks, 'ip:203.0.113.99'), null);
});
