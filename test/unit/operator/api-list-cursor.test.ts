/**
 * GET /api/anomalies with a cursor the API never handed out: a clear 400 problem+json naming the
 * field, not a silent restart at the newest page (which a script following `next` would loop on).
 * And paging through the API over the analyzer's store while new reports arrive repeats nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import { StandaloneBackend } from '../../../analyzer/api/standaloneBackend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import type { OperatorBackend } from '../../../analyzer/api/backend.js';
import { ADMIN, makeReport, SEEDS } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);

async function appWith(backend: OperatorBackend) {
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
  await app.ready();
  return app;
}

async function backends(): Promise<Array<[string, OperatorBackend, (r: ReturnType<typeof makeReport>) => Promise<void>]>> {
  const reports = new MemoryReportStore();
  const analyzer = new AnalyzerBackend({ reports, plane: new MemoryControlPlane(), now: () => NOW });
  const standalone = new StandaloneBackend({ plane: new MemoryControlPlane(), now: () => NOW });
  return [
    ['analyzer backend', analyzer, async (r) => void (await reports.create(r))],
    ['standalone backend', standalone, async (r) => standalone.reports.put(r)],
  ];
}

test('a cursor the API never handed out is a 400 problem, on every backend', async () => {
  for (const [name, backend, add] of await backends()) {
    for (const seed of SEEDS) await add(makeReport(seed, NOW));
    const app = await appWith(backend);
    for (const bad of ['garbage', '-5', '12', 'W10']) {
      const res = await app.inject({ method: 'GET', url: `/api/anomalies?limit=2&cursor=${encodeURIComponent(bad)}`, headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(res.statusCode, 400, `${name}: cursor ${bad} answered ${res.statusCode}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      const body = res.json();
      assert.equal(body.error, 'bad_request');
      assert.ok(body.errors.some((e: { path: string }) => e.path === 'querystring.cursor'), `${name}: the error names the cursor`);
    }
    await app.close();
  }
});

test('paging through the API while a report arrives repeats no report', async () => {
  for (const [name, backend, add] of await backends()) {
    for (const seed of SEEDS) await add(makeReport(seed, NOW));
    const app = await appWith(backend);
    const get = async (url: string) => (await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN}` } })).json();
    const first = await get('/api/anomalies?limit=2');
    await add(makeReport({ ...SEEDS[0]!, id: 'an-newer', minutesAgo: 0 }, NOW));
    const second = await get(`/api/anomalies?limit=2&cursor=${encodeURIComponent(first.next)}`);
    const ids = [...first.items, ...second.items].map((r: { id: string }) => r.id);
    assert.deepEqual(ids, SEEDS.map((s) => s.id), name);
    await app.close();
  }
});
