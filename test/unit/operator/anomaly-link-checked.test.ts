/**
 * POST /api/blocks and /api/overrides link a block or override to a report only when that report
 * exists: an `anomalyId` naming none used to be written and answered 201 — a block "from" a report
 * nobody can find, whose history never records it and whose dismissal can never lift it. Now it is
 * a 400 problem naming `body.anomalyId`, and nothing is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import { StandaloneBackend } from '../../../analyzer/api/standaloneBackend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import { ADMIN, makeReport } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);
const CLIENT = 'apiKey:4bc3c1d3a4f2b7e1';

for (const name of ['analyzer', 'standalone'] as const) {
  test(`${name} backend: a block or override linked to no report is a 400 that writes nothing`, async () => {
    const plane = new MemoryControlPlane();
    const report = makeReport({ id: 'an-real', client: CLIENT, minutesAgo: 1, score: 0.9, kind: 'block', status: 'open', applied: false, summary: 's' }, NOW);
    let backend: AnalyzerBackend | StandaloneBackend;
    if (name === 'analyzer') {
      const store = new MemoryReportStore();
      await store.create(report);
      backend = new AnalyzerBackend({ reports: store, plane, now: () => NOW });
    } else {
      backend = new StandaloneBackend({ plane, now: () => NOW });
      backend.reports.put(report);
    }
    const app = Fastify({ logger: false });
    await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
    await app.ready();
    const headers = { authorization: `Bearer ${ADMIN}` };
    try {
      const block = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: CLIENT, ttl: '10m', anomalyId: 'an-missing' } });
      assert.equal(block.statusCode, 400, block.body);
      assert.match(block.headers['content-type'] as string, /application\/problem\+json/);
      assert.equal(block.json().error, 'bad_request');
      assert.equal(block.json().errors?.[0]?.path, 'body.anomalyId');
      assert.match(block.json().detail, /no anomaly an-missing/);
      const override = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client: CLIENT, multiplier: 0.5, ttl: '10m', anomalyId: 'an-missing' } });
      assert.equal(override.statusCode, 400, override.body);
      assert.equal(override.json().errors?.[0]?.path, 'body.anomalyId');
      const state = await plane.read();
      assert.equal(state.blocks.size, 0);
      assert.equal(state.overrides.size, 0);

      // a report that exists is linked as before, and its history records it
      const ok = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: CLIENT, ttl: '10m', anomalyId: 'an-real' } });
      assert.equal(ok.statusCode, 201, ok.body);
      assert.equal((await plane.read()).blocks.get(CLIENT)?.anomalyId, 'an-real');
      const shown = await app.inject({ method: 'GET', url: '/api/anomalies/an-real', headers });
      assert.ok(shown.json().report.history.some((h: { what: string }) => h.what === 'blocked'), shown.body);
    } finally {
      await app.close();
    }
  });
}
