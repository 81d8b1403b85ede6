/**
 * A report's history is bounded (HistoryBound, analyzer/reports/store.ts) on real Redis, through the
 * operator API: an admin who blocks and unblocks with a report's id again and again (each with a
 * 1 KiB note) appends far past the bound, and the analyzer keeps appending its own entries. The
 * report still reads and lists (unbounded, it passed the 1 MiB a stored report may decode to and
 * answered 404), the drops are counted, and a dismissal still lifts the block put in force early in
 * its history — its entry is never the one dropped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { PUT_IN_FORCE, type AnomalyReport, type HistoryEntry } from '../../../models/anomaly.js';
import type { ControlKeys } from '../../../models/control.js';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { HISTORY_MAX_BYTES, HISTORY_MAX_ENTRIES, type ReportStore } from '../../../analyzer/reports/store.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { AnalyzerMetrics } from '../../../analyzer/metrics.js';
import { makeReport } from './fixtures.js';

import { startRedisOperatorApi, type RedisOperatorApi } from './redisApi.js';
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const CLIENT = 'apiKey:4bc3c1d3a4f2b7e1';
const OTHER = 'apiKey:0123456789abcdef';
const ID = 'an-history';
const CYCLES = 1_000;
const NOTE = 'n'.repeat(1024);
let api: RedisOperatorApi;
let redis: Redis;
let keys: ControlKeys;
let prefix: string;
let store: RedisReportStore;

before(async () => {
  api = await startRedisOperatorApi({
    tag: 'rwtest-hbound',
    now: () => NOW + 5_000,
    // a block proposal nobody approved: nothing of it is in force until an operator blocks by hand
    seed: async (reports) => {
      assert.ok(await reports.create(makeReport({ id: ID, client: CLIENT, minutesAgo: 1, score: 0.9, kind: 'block', status: 'open', applied: false, summary: 'credential stuffing' }, NOW)));
    },
  });
  ({ redis, keys, prefix, store } = api);
});

after(async () => {
  await api?.close();
});

const call = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => api.call(method, url, body);

test('a history appended far past its bound through the API still reads, lists and dismisses, lifting the block put in force first', async () => {
  // early in its history: an operator blocks the client for this report
  assert.equal((await call('POST', '/api/blocks', { client: CLIENT, ttl: '1d', anomalyId: ID })).status, 201);
  // then blocks and unblocks another client with this report's id, again and again
  for (let i = 0; i < CYCLES; i++) {
    const b = await call('POST', '/api/blocks', { client: OTHER, ttl: '1h', anomalyId: ID });
    assert.equal(b.status, 201, JSON.stringify(b.body));
    const u = await call('DELETE', `/api/blocks?client=${encodeURIComponent(OTHER)}&note=${NOTE}`);
    assert.equal(u.status, 200, JSON.stringify(u.body));
  }
  const appended = 1 + 2 * CYCLES;

  const got = await call('GET', `/api/anomalies/${ID}`);
  assert.equal(got.status, 200, 'the report still reads');
  const report = got.body.report as AnomalyReport;
  assert.ok(report.history.length <= HISTORY_MAX_ENTRIES, `history of ${report.history.length} entries`);
  assert.ok(Buffer.byteLength(JSON.stringify(report.history)) <= HISTORY_MAX_BYTES + 2 * 8_192);
  assert.equal(report.history.length + report.historyDropped!, 1 + appended, 'every entry is kept or counted');
  assert.equal(report.history[0]!.what, 'detected');
  assert.equal(report.history[1]!.what, 'blocked', 'the earliest entry that put something in force is kept');
  assert.equal(report.history.at(-1)!.what, 'unblocked');
  assert.equal(report.history.at(-1)!.note, NOTE);
  // the list key's size the script keeps is the list's
  const list = await redis.lrange(store.keys.history(ID), 0, -1);
  assert.equal(Number(await redis.hget(store.keys.report(ID), 'hbytes')), list.reduce((n, e) => n + Buffer.byteLength(e), 0));

  const listed = await call('GET', `/api/anomalies?client=${encodeURIComponent(CLIENT)}`);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.items.map((r: AnomalyReport) => r.id), [ID], 'the report still lists');
  assert.deepEqual((await call('GET', '/api/anomalies?status=open')).body.items.map((r: AnomalyReport) => r.id), [ID]);

  // the analyzer's own entries during a long episode push every later block out of the history
  for (let i = 0; i < HISTORY_MAX_ENTRIES + 50; i++) assert.ok((await store.transition(ID, { entry: { ts: NOW + i, who: 'analyzer', what: 'quiet', note: 'no window scored 0.5 or more for 300 s' } })).ok);
  const later = (await store.get(ID))!;
  assert.ok(later, 'the report still reads');
  assert.equal(later.history.length, HISTORY_MAX_ENTRIES);
  assert.deepEqual(later.history.filter((h) => PUT_IN_FORCE.has(h.what)).map((h) => h.what), ['blocked'], 'only the pinned early block says something was put in force');
  assert.equal(store.historyDropped, later.historyDropped, 'this store counted every drop');
  const metrics = new AnalyzerMetrics();
  metrics.watchReports({ store });
  assert.match(await metrics.registry.metrics(), new RegExp(`^ratewarden_report_history_dropped_total ${later.historyDropped}$`, 'm'));

  // the early block is still in force, and dismissing the report lifts it
  assert.notEqual(await redis.hget(keys.blocks, CLIENT), null);
  const dismissed = await call('POST', `/api/anomalies/${ID}/dismiss`, { note: 'partner' });
  assert.equal(dismissed.status, 200, JSON.stringify(dismissed.body));
  assert.equal(dismissed.body.report.status, 'dismissed');
  assert.equal(await redis.hget(keys.blocks, CLIENT), null, 'the dismissal lifted the early block');
  assert.deepEqual(dismissed.body.report.history.slice(-2).map((h: { what: string }) => h.what), ['dismissed', 'unblocked']);
  assert.equal(dismissed.body.report.history[1].what, 'blocked');
});

test('both stores bound a history alike: by entries and bytes, keeping the first entry and the earliest one put in force, counting the rest', async () => {
  const bound = { maxEntries: 10, maxBytes: 3_000 };
  const redisStore = new RedisReportStore(redis, { prefix: `${prefix}-small`, history: bound });
  const stores: Array<[string, ReportStore & { historyDropped: number }]> = [
    ['memory', new MemoryReportStore(100, bound)],
    ['redis', redisStore],
  ];
  const entries: HistoryEntry[] = [
    ...Array.from({ length: 3 }, (_, i) => ({ ts: NOW + i, who: 'analyzer', what: 'quiet' })),
    { ts: NOW + 10, who: 'admin', what: 'blocked' },
    { ts: NOW + 11, who: 'admin', what: 'approved', note: 'a later one: may go' },
    ...Array.from({ length: 30 }, (_, i) => ({ ts: NOW + 20 + i, who: 'analyzer', what: 'quiet', note: `"what":"blocked" ${i}` })),
    // far larger than the rest: the byte bound takes over from the count
    ...Array.from({ length: 4 }, (_, i) => ({ ts: NOW + 60 + i, who: 'admin (admin)', what: 'unblocked', note: 'é'.repeat(1000) + i })),
  ];
  const seen: Record<string, AnomalyReport> = {};
  for (const [name, store] of stores) {
    assert.ok(await store.create(makeReport({ id: 'an-small', client: CLIENT, minutesAgo: 1, score: 0.9, kind: 'block', status: 'open', applied: false, summary: 's' }, NOW)));
    for (const entry of entries) {
      const r = await store.transition('an-small', { entry });
      assert.ok(r.ok, name);
      assert.ok(r.report.history.length <= bound.maxEntries, `${name}: ${r.report.history.length} entries`);
    }
    const report = (await store.get('an-small'))!;
    assert.ok(report, name);
    assert.deepEqual(report.history.slice(0, 2).map((h) => h.what), ['detected', 'blocked'], name);
    assert.ok(report.history.slice(2).every((h) => h.what !== 'blocked' && h.what !== 'approved'), `${name}: the later one put in force went`);
    assert.deepEqual(report.history.at(-1), entries.at(-1), `${name}: the newest entry is kept`);
    assert.ok(report.history.slice(2).reduce((n, h) => n + Buffer.byteLength(JSON.stringify(h)), 0) <= bound.maxBytes, name);
    assert.equal(report.history.length + report.historyDropped!, 1 + entries.length, `${name}: every entry is kept or counted`);
    assert.equal(store.historyDropped, report.historyDropped, name);
    seen[name] = report;
  }
  assert.deepEqual(seen.redis!.history, seen.memory!.history, 'the same entries kept in both stores');
  // the hash's byte count follows the list
  const list = await redis.lrange(redisStore.keys.history('an-small'), 0, -1);
  assert.equal(Number(await redis.hget(redisStore.keys.report('an-small'), 'hbytes')), list.reduce((n, e) => n + Buffer.byteLength(e), 0));
});

test('a report stored before the bound (no byte count, a list past 1 MiB) is bounded by its next change and reads again', async () => {
  const id = 'an-legacy';
  assert.ok(await store.create(makeReport({ id, client: 'user:legacy', minutesAgo: 2, score: 0.9, kind: 'block', status: 'actioned', applied: true, summary: 's' }, NOW)));
  await redis.hdel(store.keys.report(id), 'hbytes');
  const big = JSON.stringify({ ts: NOW, who: 'admin', what: 'unblocked', note: NOTE });
  for (let i = 0; i < 10; i++) await redis.rpush(store.keys.history(id), ...Array.from({ length: 100 }, () => big));
  assert.equal(await store.get(id), null, 'past 1 MiB it does not decode');
  const r = await store.transition(id, { entry: { ts: NOW, who: 'analyzer', what: 'quiet' } });
  assert.ok(r.ok);
  assert.deepEqual(r.report.history.slice(0, 2).map((h) => h.what), ['detected', 'actioned']);
  assert.equal(r.report.history.length + r.report.historyDropped!, 2 + 1_000 + 1);
  assert.ok(Buffer.byteLength(JSON.stringify(r.report.history)) <= HISTORY_MAX_BYTES + 2 * 8_192);
});
