/**
 * The operator API over the analyzer's own parts: RedisReportStore and RedisControlPlane on real
 * Redis, the Actuator for approved actions. Each decision is checked in both places it lands: the
 * report (status + history) and the control plane hashes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { AnomalyReport } from '../../../models/anomaly.js';
import type { ControlKeys } from '../../../models/control.js';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import type { OperatorAction } from '../../../analyzer/api/backend.js';
import { makeReport, seedControl, SEEDS } from './fixtures.js';

import { startRedisOperatorApi, type RedisOperatorApi } from './redisApi.js';
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
let redis: Redis;
let keys: ControlKeys;
let api: RedisOperatorApi;
let store: RedisReportStore;
const decisions: Array<[string, OperatorAction]> = [];

before(async () => {
  api = await startRedisOperatorApi({
    tag: 'rwtest-opab',
    now: () => NOW + 5_000,
    operator: 'dana',
    onDecision: (r, a) => void decisions.push([r.id, a]),
    seed: async (reports, plane) => {
      for (const seed of SEEDS) assert.ok(await reports.create(makeReport(seed, NOW)));
      await seedControl(plane, NOW);
    },
  });
  ({ redis, keys, store } = api);
});

after(async () => {
  await api?.close();
});

const call = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => api.call(method, url, body);

test('the list pages through the Redis report store newest first with its own cursor', async () => {
  for (let i = 0; i < 25; i++) await store.create(makeReport({ id: `bulk-${i}`, client: `ip:10.9.0.${i}`, minutesAgo: 20 + i, score: 0.4, kind: 'observe', status: 'open', applied: false, summary: 'bulk' }, NOW));
  const ids: string[] = [];
  let cursor = '';
  for (let i = 0; i < 10; i++) {
    const res = await call('GET', `/api/anomalies?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    ids.push(...res.body.items.map((r: AnomalyReport) => r.id));
    if (!res.body.next) break;
    cursor = res.body.next;
  }
  assert.equal(ids.length, 29);
  assert.deepEqual(ids.slice(0, 4), ['an-attacker', 'an-scraper', 'an-pending', 'an-observe']);
  assert.equal(new Set(ids).size, 29);
});

test('dismiss claims the report, lifts its block, records both steps and tells the analyzer', async () => {
  const res = await call('POST', '/api/anomalies/an-attacker/dismiss', { note: 'partner' });
  assert.equal(res.status, 200);
  assert.equal(res.body.report.status, 'dismissed');
  assert.equal(await redis.hget(keys.blocks, 'apiKey:4bc3c1d3a4f2b7e1'), null);
  const stored = (await store.get('an-attacker'))!;
  assert.deepEqual(stored.history.slice(-2).map((h) => [h.what, h.who]), [
    ['dismissed', 'dana (admin)'],
    ['unblocked', 'dana (admin)'],
  ]);
  assert.deepEqual(decisions.at(-1), ['an-attacker', 'dismiss']);
});

test('two operators dismissing at once: one wins, the other gets 409', async () => {
  const [a, b] = await Promise.all([call('POST', '/api/anomalies/an-scraper/dismiss'), call('POST', '/api/anomalies/an-scraper/dismiss')]);
  assert.deepEqual([a.status, b.status].sort(), [200, 409]);
  assert.equal(await redis.hget(keys.overrides, '*|ip:203.0.113.7'), null);
  assert.equal((await store.get('an-scraper'))!.history.filter((h) => h.what === 'dismissed').length, 1);
});

test('approve writes the pending action through the actuator and marks it applied', async () => {
  const res = await call('POST', '/api/anomalies/an-pending/approve');
  assert.equal(res.status, 200);
  assert.equal(res.body.report.status, 'actioned');
  assert.equal(res.body.report.action.applied, true);
  assert.equal(res.body.report.action.until, NOW + 5_000 + 600_000);
  const block = JSON.parse((await redis.hget(keys.blocks, 'user:mallory'))!);
  assert.equal(block.anomalyId, 'an-pending');
  assert.equal(block.until, NOW + 5_000 + 600_000);
});

test('confirm keeps the block and the unblock of that client is recorded in the stored report', async () => {
  assert.equal((await call('POST', '/api/anomalies/an-pending/confirm')).status, 200);
  assert.ok(await redis.hget(keys.blocks, 'user:mallory'));
  assert.equal((await call('DELETE', `/api/blocks?client=${encodeURIComponent('user:mallory')}`)).status, 200);
  assert.equal(await redis.hget(keys.blocks, 'user:mallory'), null);
  const stored = (await store.get('an-pending'))!;
  assert.equal(stored.status, 'confirmed');
  assert.equal(stored.history.at(-1)!.what, 'unblocked');
});
