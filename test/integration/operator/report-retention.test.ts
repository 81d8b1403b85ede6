/**
 * Retention of the Redis report store: a client's index expires with its reports (a report key the
 * backstop expired before trim() ran left its id in the client's index while the client kept getting
 * reports), trim() clears a client's index past the retention, and a policy reload's longer retention (passed to trim()) is
 * the backstop of reports created after it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { NOW, report } from '../../unit/analyzer/reportStoreContract.js';

const DAY = 86_400_000;
let redis: Redis;
const prefixes: string[] = [];

before(async () => {
  redis = await connectRedis();
});

after(async () => {
  for (const p of prefixes) {
    const stale = await redis.keys(`{${p}}*`);
    if (stale.length) await redis.del(...stale);
  }
  redis?.disconnect();
});

function store(retentionMs: number): RedisReportStore {
  const prefix = uniqueName('rwtest-op-retention');
  prefixes.push(prefix);
  return new RedisReportStore(redis, { prefix, retentionMs });
}

test("a client's index carries the reports' backstop expiry, and follows a longer retention after a reload", async () => {
  const s = store(7 * DAY);
  await s.create(report('r1', { ts: NOW, client: 'ip:203.0.113.9' }));
  const index = s.keys.client('ip:203.0.113.9');
  const ttl = await redis.pttl(index);
  assert.ok(ttl > 7.9 * DAY && ttl <= 8 * DAY, `client index PTTL ${ttl}`);
  // the policy is reloaded with 30 d: trim() is given it, reports created after it last as long
  await s.trim(NOW, 30 * DAY);
  await s.create(report('r2', { ts: NOW + 1000, client: 'ip:203.0.113.9' }));
  for (const key of [s.keys.report('r2'), s.keys.history('r2'), index]) {
    const t = await redis.pttl(key);
    assert.ok(t > 30.9 * DAY && t <= 31 * DAY, `${key} PTTL ${t}`);
  }
});

test("trim() clears a client's index past the retention, ids whose report keys are already gone included", async () => {
  const s = store(7 * DAY);
  const client = 'ip:203.0.113.10';
  await s.create(report('older', { ts: NOW - 20 * DAY, client }));
  await s.create(report('old', { ts: NOW - 10 * DAY, client }));
  await s.create(report('new', { ts: NOW, client }));
  // the backstop expired the oldest report's keys before trim() ran (the analyzer was down):
  // its client is no longer known from it, but trimming the client's next report clears it too
  await redis.del(s.keys.report('older'), s.keys.history('older'));
  assert.equal(await s.trim(NOW, 7 * DAY), 2);
  assert.deepEqual(await redis.zrange(s.keys.client(client), 0, -1), ['new']);
});
