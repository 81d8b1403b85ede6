/**
 * The operator API on the real control plane: RedisControlPlane on real Redis (a unique key prefix
 * per run), the plugin on a listening fastify instance, requests over HTTP. Each action is checked
 * against the Redis state DESIGN.md prescribes (hashes rw:ctl:blocks / rw:ctl:overrides, channel
 * rw:ctl with kind/field/value).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { controlKeys, type ControlKeys } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ADMIN, makeReport, READONLY, startOperatorServer, type OperatorServer } from './fixtures.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
let clock = NOW;
let redis: Redis;
let sub: Redis;
let keys: ControlKeys;
let server: OperatorServer;
const messages: Array<{ seq: number; kind: string; field: string; value: Record<string, unknown> | null }> = [];

before(async () => {
  redis = await connectRedis();
  keys = controlKeys(uniqueName('rwtest-opapi'));
  sub = redis.duplicate();
  sub.on('message', (_ch: string, m: string) => messages.push(JSON.parse(m)));
  await sub.subscribe(keys.channel);
  server = await startOperatorServer({ plane: new RedisControlPlane(redis, keys), now: () => clock });
});

after(async () => {
  await server?.close();
  if (keys) await redis.del(keys.blocks, keys.overrides, keys.load, keys.seq);
  sub?.disconnect();
  redis?.disconnect();
});

async function call(method: string, path: string, opts: { token?: string | null; body?: unknown; operator?: string } = {}) {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? ADMIN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.operator) headers['x-operator'] = opts.operator;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

async function blockIn(client: string): Promise<Record<string, unknown> | null> {
  const raw = await redis.hget(keys.blocks, client);
  return raw ? JSON.parse(raw) : null;
}

/** Waits (bounded) for a channel message about `field`. */
async function messageFor(field: string, kind: string, since: number): Promise<(typeof messages)[number]> {
  for (let i = 0; i < 100; i++) {
    const m = messages.slice(since).find((x) => x.field === field && x.kind === kind);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${kind} message for ${field}`);
}

test('a request without a token gets 401 with WWW-Authenticate: Bearer and a problem body', async () => {
  const res = await call('GET', '/api/anomalies', { token: null });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
  assert.equal(res.body.error, 'unauthorized');
});

test('a wrong token gets 401 and changes nothing', async () => {
  const before = await redis.hgetall(keys.blocks);
  const res = await call('POST', '/api/blocks', { token: 'not-the-token', body: { client: 'ip:198.51.100.1', ttl: '5m' } });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
  assert.deepEqual(await redis.hgetall(keys.blocks), before);
});

test('the read-only token reads but gets 403 on a write, and Redis is unchanged', async () => {
  assert.equal((await call('GET', '/api/blocks', { token: READONLY })).status, 200);
  const res = await call('POST', '/api/anomalies/an-attacker/dismiss', { token: READONLY });
  assert.equal(res.status, 403);
  assert.equal(res.body.error, 'forbidden');
  assert.equal((await blockIn('apiKey:4bc3c1d3a4f2b7e1'))?.anomalyId, 'an-attacker');
});

test('whoami names the role, and X-Operator is added to it', async () => {
  assert.deepEqual((await call('GET', '/api/whoami')).body, { role: 'admin', who: 'admin' });
  assert.deepEqual((await call('GET', '/api/whoami', { token: READONLY, operator: 'carol' })).body, { role: 'readonly', who: 'carol (readonly)' });
});

test('the OpenAPI document is served without a token', async () => {
  const res = await call('GET', '/api/openapi.json', { token: null });
  assert.equal(res.status, 200);
  assert.equal(res.body.openapi, '3.1.0');
});

test('invalid input gets 400 with every error and its path', async () => {
  const res = await call('GET', '/api/anomalies?limit=0&status=nope&bogus=1');
  assert.equal(res.status, 400);
  assert.equal(res.body.error, 'bad_request');
  const paths = res.body.errors.map((e: { path: string }) => e.path).sort();
  assert.deepEqual(paths, ['querystring', 'querystring.limit', 'querystring.status']);
  const bad = await call('POST', '/api/blocks', { body: { client: 'not a key', ttl: 'forever' } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path).sort(), ['body.client', 'body.ttl']);
});

test('anomalies are paged newest first, and following next visits each report exactly once', async () => {
  for (let i = 0; i < 60; i++) server.backend.reports.put({ ...makeReport({ id: `bulk-${String(i).padStart(2, '0')}`, client: `ip:10.0.0.${i}`, minutesAgo: 30 + i, score: 0.5, kind: 'observe', status: 'open', applied: false, summary: 'bulk' }, NOW) });
  const ids: string[] = [];
  const times: number[] = [];
  let cursor = '';
  for (let pages = 0; pages < 10; pages++) {
    const res = await call('GET', `/api/anomalies?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200);
    for (const r of res.body.items as AnomalyReport[]) {
      ids.push(r.id);
      times.push(r.ts);
    }
    if (!res.body.next) break;
    cursor = res.body.next;
  }
  assert.equal(ids.length, 64);
  assert.equal(new Set(ids).size, 64);
  assert.deepEqual(times, [...times].sort((a, b) => b - a));
});

test('list filters by status, client and since (a duration back from now)', async () => {
  const open = await call('GET', '/api/anomalies?status=pending');
  assert.deepEqual(open.body.items.map((r: AnomalyReport) => r.id), ['an-pending']);
  const byClient = await call('GET', `/api/anomalies?client=${encodeURIComponent('ip:203.0.113.7')}`);
  assert.deepEqual(byClient.body.items.map((r: AnomalyReport) => r.id), ['an-scraper']);
  const recent = await call('GET', '/api/anomalies?since=4m');
  assert.deepEqual(recent.body.items.map((r: AnomalyReport) => r.id), ['an-attacker', 'an-scraper']);
});

test('the detail carries the evidence: features against baseline, the series, and the block in force', async () => {
  const res = await call('GET', '/api/anomalies/an-attacker');
  assert.equal(res.status, 200);
  assert.equal(res.body.evidence.features[0].feature, 'requests_10s');
  assert.equal(res.body.evidence.series.ts.length, 120);
  assert.equal(res.body.evidence.series.ts.length, res.body.evidence.series.mean.length);
  assert.equal(res.body.block.anomalyId, 'an-attacker');
  assert.equal((await call('GET', '/api/anomalies/nope')).status, 404);
});

test('confirm keeps the block in Redis and marks the report confirmed, recording who', async () => {
  const res = await call('POST', '/api/anomalies/an-attacker/confirm', { operator: 'alice', body: { note: 'credential stuffing' } });
  assert.equal(res.status, 200);
  assert.equal(res.body.report.status, 'confirmed');
  assert.deepEqual(res.body.report.history.at(-1), { ts: NOW, who: 'alice (admin)', what: 'confirmed', note: 'credential stuffing' });
  assert.equal((await blockIn('apiKey:4bc3c1d3a4f2b7e1'))?.anomalyId, 'an-attacker');
});

test('dismiss lifts the anomaly block: HDEL on rw:ctl:blocks and a kind block, value null message', async () => {
  const mark = messages.length;
  clock = NOW + 1_000;
  const res = await call('POST', '/api/anomalies/an-attacker/dismiss', { operator: 'alice' });
  assert.equal(res.status, 200);
  assert.equal(res.body.report.status, 'dismissed');
  assert.deepEqual(res.body.report.history.slice(-2).map((h: { what: string; who: string }) => [h.what, h.who]), [
    ['dismissed', 'alice (admin)'],
    ['unblocked', 'alice (admin)'],
  ]);
  assert.equal(await blockIn('apiKey:4bc3c1d3a4f2b7e1'), null);
  const m = await messageFor('apiKey:4bc3c1d3a4f2b7e1', 'block', mark);
  assert.equal(m.value, null);
  assert.ok(m.seq > 0 && m.seq <= Number(await redis.get(keys.seq)));
});

test('dismissing a tighten anomaly removes its override from rw:ctl:overrides', async () => {
  assert.ok(await redis.hget(keys.overrides, '*|ip:203.0.113.7'));
  const res = await call('POST', '/api/anomalies/an-scraper/dismiss');
  assert.equal(res.status, 200);
  assert.equal(await redis.hget(keys.overrides, '*|ip:203.0.113.7'), null);
  assert.equal(res.body.report.history.at(-1).what, 'override removed');
});

test('approve writes the pending block to rw:ctl:blocks with its anomaly id and TTL', async () => {
  clock = NOW + 2_000;
  const res = await call('POST', '/api/anomalies/an-pending/approve');
  assert.equal(res.status, 200);
  assert.equal(res.body.report.status, 'actioned');
  assert.equal(res.body.report.action.applied, true);
  const block = await blockIn('user:mallory');
  assert.equal(block?.anomalyId, 'an-pending');
  assert.equal(block?.until, NOW + 2_000 + 600_000);
  assert.equal(typeof block?.seq, 'number');
});

test('an action not allowed from the status gets 409 and changes nothing', async () => {
  const before = await redis.hgetall(keys.blocks);
  const res = await call('POST', '/api/anomalies/an-pending/approve');
  assert.equal(res.status, 409);
  assert.equal(res.body.error, 'conflict');
  assert.deepEqual(await redis.hgetall(keys.blocks), before);
});

test('POST /api/blocks writes {until, reason, seq} and announces it on the channel', async () => {
  const mark = messages.length;
  clock = NOW + 3_000;
  const res = await call('POST', '/api/blocks', { body: { client: 'ip:198.51.100.23', ttl: '15m', reason: 'abuse report #42' } });
  assert.equal(res.status, 201);
  const stored = await blockIn('ip:198.51.100.23');
  assert.deepEqual(stored, { seq: res.body.seq, until: NOW + 3_000 + 900_000, reason: 'abuse report #42' });
  const m = await messageFor('ip:198.51.100.23', 'block', mark);
  assert.deepEqual(m.value, stored);
  const list = await call('GET', '/api/blocks');
  const item = list.body.items.find((b: { client: string }) => b.client === 'ip:198.51.100.23');
  assert.equal(item.remainingMs, 900_000);
});

test('DELETE /api/blocks unblocks (value null) and records the unblock in the anomaly it came from', async () => {
  const mark = messages.length;
  const res = await call('DELETE', `/api/blocks?client=${encodeURIComponent('user:mallory')}&note=${encodeURIComponent('support ticket')}`, { operator: 'bob' });
  assert.equal(res.status, 200);
  assert.equal(await blockIn('user:mallory'), null);
  assert.equal((await messageFor('user:mallory', 'block', mark)).value, null);
  const report = (await call('GET', '/api/anomalies/an-pending')).body.report as AnomalyReport;
  assert.deepEqual(report.history.at(-1), { ts: clock, who: 'bob (admin)', what: 'unblocked', note: 'support ticket' });
  assert.equal((await call('DELETE', `/api/blocks?client=${encodeURIComponent('user:mallory')}`)).status, 404);
});

test('overrides are written to field <ruleId>|<clientKey> and removed again', async () => {
  const res = await call('POST', '/api/overrides', { body: { rule: 'per-key', client: 'apiKey:0123456789abcdef', multiplier: 0.5, ttl: 60_000 } });
  assert.equal(res.status, 201);
  const raw = await redis.hget(keys.overrides, 'per-key|apiKey:0123456789abcdef');
  assert.deepEqual(JSON.parse(raw!), { seq: res.body.seq, multiplier: 0.5, until: clock + 60_000, reason: 'override by an operator' });
  const list = await call('GET', '/api/overrides');
  assert.ok(list.body.items.some((o: { rule: string; client: string }) => o.rule === 'per-key' && o.client === 'apiKey:0123456789abcdef'));
  assert.equal((await call('POST', '/api/overrides', { body: { rule: 'per-key', client: '*', ttl: '1m' } })).status, 400);
  const del = await call('DELETE', `/api/overrides?rule=per-key&client=${encodeURIComponent('apiKey:0123456789abcdef')}`);
  assert.equal(del.status, 200);
  assert.equal(await redis.hget(keys.overrides, 'per-key|apiKey:0123456789abcdef'), null);
});

test('GET /api/load shows rw:ctl:load per service and the multiplier history', async () => {
  const plane = new RedisControlPlane(redis, keys);
  await plane.write('load', 'demo-api', { multiplier: 0.5, since: NOW + 10_000, reason: 'p99 400ms > 250ms' });
  await plane.write('load', 'demo-api', { multiplier: 0.8, since: NOW + 20_000, reason: 'recovering' });
  let res = await call('GET', '/api/load');
  for (let i = 0; i < 50 && res.body.history.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 20));
    res = await call('GET', '/api/load');
  }
  assert.equal(res.body.services[0].service, 'demo-api');
  assert.equal(res.body.services[0].multiplier, 0.8);
  assert.deepEqual(res.body.history.map((p: { multiplier: number }) => p.multiplier), [0.5, 0.8]);
});

test('GET /api/clients/:key gives baseline, recent series, block state and anomalies; an unknown client is 404', async () => {
  const res = await call('GET', `/api/clients/${encodeURIComponent('ip:203.0.113.7')}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.baseline.features[0].feature, 'requests_10s');
  assert.equal(res.body.series.value.length, 120);
  assert.deepEqual(res.body.anomalies.map((r: AnomalyReport) => r.id), ['an-scraper']);
  assert.equal((await call('GET', `/api/clients/${encodeURIComponent('ip:192.0.2.99')}`)).status, 404);
});

test('without RW_ADMIN_TOKEN the API refuses every request, even with the read-only token', async () => {
  const disabled = await startOperatorServer({ plane: new RedisControlPlane(redis, keys), adminToken: null, seed: false });
  try {
    const res = await fetch(`${disabled.url}/api/anomalies`, { headers: { authorization: `Bearer ${READONLY}` } });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: string }).error, 'api_disabled');
  } finally {
    await disabled.close();
  }
});
