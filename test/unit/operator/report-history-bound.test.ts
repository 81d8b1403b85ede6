/**
 * A report's history stays bounded through the operator API on in-memory parts, with either backend
 * (the analyzer's over MemoryReportStore, the standalone one): blocking and unblocking with a
 * report's id again and again drops its oldest entries, counted in the report and (analyzer) in
 * `ratewarden_report_history_dropped_total`, and a dismissal still lifts the block put in force first.
 * The same on real Redis: test/integration/operator/report-history-bound.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { HISTORY_MAX_BYTES, HISTORY_MAX_ENTRIES } from '../../../analyzer/reports/store.js';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import { StandaloneBackend } from '../../../analyzer/api/standaloneBackend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import { AnalyzerMetrics } from '../../../analyzer/metrics.js';
import { ADMIN, makeReport } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);
const CLIENT = 'apiKey:4bc3c1d3a4f2b7e1';
const OTHER = 'apiKey:0123456789abcdef';
const ID = 'an-history';
const NOTE = 'n'.repeat(1024);

for (const name of ['analyzer', 'standalone'] as const) {
  test(`${name} backend: a history appended past its bound keeps the first block, counts the drops and still dismisses`, async () => {
    const plane = new MemoryControlPlane();
    const report = makeReport({ id: ID, client: CLIENT, minutesAgo: 1, score: 0.9, kind: 'block', status: 'open', applied: false, summary: 's' }, NOW);
    const store = new MemoryReportStore();
    let backend: AnalyzerBackend | StandaloneBackend;
    if (name === 'analyzer') {
      await store.create(report);
      backend = new AnalyzerBackend({ reports: store, plane, actuator: new Actuator(plane), now: () => NOW });
    } else {
      backend = new StandaloneBackend({ plane, now: () => NOW });
      backend.reports.put(report);
    }
    const app = Fastify({ logger: false });
    await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
    await app.ready();
    const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: object) => {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}` }, ...(body ? { payload: body } : {}) });
      return { status: res.statusCode, body: res.json() };
    };

    assert.equal((await call('POST', '/api/blocks', { client: CLIENT, ttl: '1d', anomalyId: ID })).status, 201);
    const cycles = 600;
    for (let i = 0; i < cycles; i++) {
      assert.equal((await call('POST', '/api/blocks', { client: OTHER, ttl: '1h', anomalyId: ID })).status, 201);
      assert.equal((await call('DELETE', `/api/blocks?client=${encodeURIComponent(OTHER)}&note=${NOTE}`)).status, 200);
    }
    const got = await call('GET', `/api/anomalies/${ID}`);
    assert.equal(got.status, 200);
    const r = got.body.report as AnomalyReport;
    assert.ok(r.history.length <= HISTORY_MAX_ENTRIES, `${r.history.length} entries`);
    assert.ok(Buffer.byteLength(JSON.stringify(r.history)) <= HISTORY_MAX_BYTES + 2 * 8_192);
    assert.equal(r.history.length + r.historyDropped!, 1 + 1 + 2 * cycles, 'every entry is kept or counted');
    assert.deepEqual(r.history.slice(0, 2).map((h) => h.what), ['detected', 'blocked']);
    assert.equal(r.history.at(-1)!.note, NOTE);
    if (name === 'analyzer') {
      assert.equal(store.historyDropped, r.historyDropped);
      const metrics = new AnalyzerMetrics();
      metrics.watchReports({ store });
      assert.match(await metrics.registry.metrics(), new RegExp(`^ratewarden_report_history_dropped_total ${r.historyDropped}$`, 'm'));
    }

    const dismissed = await call('POST', `/api/anomalies/${ID}/dismiss`, {});
    assert.equal(dismissed.status, 200, JSON.stringify(dismissed.body));
    assert.equal((await plane.read()).blocks.get(CLIENT), undefined, 'the dismissal lifted the first block');
    await app.close();
  });
}
