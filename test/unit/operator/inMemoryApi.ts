/** The operator API on in-memory parts, with either backend, at a fixed time. */
import Fastify from 'fastify';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import { StandaloneBackend } from '../../../analyzer/api/standaloneBackend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import type { OperatorBackend } from '../../../analyzer/api/backend.js';
import { ADMIN } from '../../integration/operator/fixtures.js';

export const BACKENDS = ['analyzer', 'standalone'] as const;

export async function inMemoryApi(name: (typeof BACKENDS)[number], now: number) {
  const plane = new MemoryControlPlane();
  const backend: OperatorBackend =
    name === 'analyzer' ? new AnalyzerBackend({ reports: new MemoryReportStore(), plane, now: () => now }) : new StandaloneBackend({ plane, now: () => now });
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => now });
  await app.ready();
  return { app, plane, headers: { authorization: `Bearer ${ADMIN}` } };
}
