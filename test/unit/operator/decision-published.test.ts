/**
 * Reports go to the anomalies topic "when detected and after every change" (analyzer/README.md,
 * reports/publisher.ts): an operator's decision through the API, and an unblock recorded in the
 * report, are changes too, and must be published with the report as it now is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { MemoryReportPublisher } from '../../../analyzer/reports/publisher.js';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { operatorBackendFor, operatorApi } from '../../../analyzer/api/index.js';
import type { AnalyzerLike } from '../../../analyzer/api/analyzerViews.js';
import { ADMIN, makeReport, seedControl, SEEDS } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);

test('operator decisions and unblocks are published to the anomalies topic', async () => {
  const plane = new MemoryControlPlane();
  const reports = new MemoryReportStore();
  for (const seed of SEEDS) await reports.create(makeReport(seed, NOW));
  await seedControl(plane, NOW);
  const publisher = new MemoryReportPublisher();
  const analyzer: AnalyzerLike & { actuator: Actuator } = { client: () => null, updateDecision: () => undefined, actuator: new Actuator(plane) };
  const backend = operatorBackendFor(analyzer, { reports, plane, cooldownMs: 300_000, now: () => NOW, publisher });
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
  await app.ready();
  const call = (method: 'POST' | 'DELETE', url: string) => app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}` } });

  assert.equal((await call('POST', '/api/anomalies/an-pending/approve')).statusCode, 200);
  assert.equal((await call('POST', '/api/anomalies/an-observe/confirm')).statusCode, 200);
  assert.equal((await call('POST', '/api/anomalies/an-scraper/dismiss')).statusCode, 200);
  assert.equal((await call('DELETE', '/api/blocks?client=apiKey%3A4bc3c1d3a4f2b7e1')).statusCode, 200);

  const last = (id: string) => publisher.recent.filter((r) => r.id === id).at(-1);
  assert.equal(last('an-pending')?.status, 'actioned', 'the approval was not published');
  assert.equal(last('an-observe')?.status, 'confirmed', 'the confirmation was not published');
  assert.equal(last('an-scraper')?.status, 'dismissed', 'the dismissal was not published');
  assert.equal(last('an-scraper')?.history.at(-1)?.what, 'override removed', 'the published dismissal lacks its lift');
  assert.equal(last('an-attacker')?.history.at(-1)?.what, 'unblocked', 'the unblock recorded in the report was not published');
  await app.close();
});
