/**
 * GET /api/anomalies?client= takes a client key the way GET /api/clients/:key and the blocks do: in
 * the form sidecars key that client (an IPv6 address as its /64, a `header:` name lower-case, a
 * hybrid key's parts in the sidecars' order). The UI's client filter and `anomalies list --client`
 * send what the operator typed; the list answered "no anomalies" for a client whose page showed them.
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
import { ADMIN, makeReport } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);

/** As the sidecars formed them, so as the analyzer's reports carry them. */
const REPORTED = [
  { id: 'an-v6', client: 'ip:2001:db8:1:2::/64', typed: 'ip:2001:db8:1:2::5' },
  { id: 'an-hdr', client: 'header:x-tenant:acme', typed: 'header:X-Tenant:acme' },
  { id: 'an-hybrid', client: 'apiKey:4bc3c1d3a4f2b7e1|ip:203.0.113.9', typed: 'ip:203.0.113.9|apiKey:4bc3c1d3a4f2b7e1' },
];

test('the anomaly list filtered by a client key as the operator writes it finds that client\'s reports, as its client page does', async () => {
  const reports = new MemoryReportStore();
  const standalone = new StandaloneBackend({ plane: new MemoryControlPlane(), now: () => NOW });
  for (const r of REPORTED) {
    const report = makeReport({ id: r.id, client: r.client, minutesAgo: 2, score: 0.9, kind: 'observe', status: 'open', applied: false, summary: r.id }, NOW);
    await reports.create(report);
    standalone.reports.put(report);
  }
  const backends: Array<[string, OperatorBackend]> = [
    ['analyzer', new AnalyzerBackend({ reports, plane: new MemoryControlPlane(), now: () => NOW })],
    ['standalone', standalone],
  ];
  for (const [name, backend] of backends) {
    const app = Fastify({ logger: false });
    await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
    await app.ready();
    const headers = { authorization: `Bearer ${ADMIN}` };
    for (const r of REPORTED) {
      const view = await app.inject({ method: 'GET', url: `/api/clients/${encodeURIComponent(r.typed)}`, headers });
      assert.equal(view.statusCode, 200, `${name} ${r.typed}: ${view.body}`);
      assert.deepEqual(view.json().anomalies.map((a: { id: string }) => a.id), [r.id], `${name}: client page of ${r.typed}`);
      for (const given of [r.client, r.typed]) {
        const listed = await app.inject({ method: 'GET', url: `/api/anomalies?client=${encodeURIComponent(given)}`, headers });
        assert.equal(listed.statusCode, 200, `${name} ${given}: ${listed.body}`);
        assert.deepEqual(listed.json().items.map((a: { id: string }) => a.id), [r.id], `${name}: list filtered by ${given}`);
      }
    }
    await app.close();
  }
});
