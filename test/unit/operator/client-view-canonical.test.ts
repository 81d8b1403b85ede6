/**
 * GET /api/clients/:key takes a client key the way POST/DELETE /api/blocks do: an `ip:` part is
 * put in the form sidecars key that client (IPv6 as its /64), so the view of the address an
 * operator just blocked shows that block instead of "the analyzer knows nothing of" it.
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
import { ADMIN } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);

test('the client view of an IPv6 address shows the block written for it', async () => {
  const backends: Array<[string, OperatorBackend]> = [
    ['analyzer', new AnalyzerBackend({ reports: new MemoryReportStore(), plane: new MemoryControlPlane(), now: () => NOW })],
    ['standalone', new StandaloneBackend({ plane: new MemoryControlPlane(), now: () => NOW })],
  ];
  for (const [name, backend] of backends) {
    const app = Fastify({ logger: false });
    await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
    await app.ready();
    const headers = { authorization: `Bearer ${ADMIN}` };
    const added = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: 'ip:2001:db8:1:2::5', ttl: '10m', reason: 'abuse' } });
    assert.equal(added.statusCode, 201);
    const view = await app.inject({ method: 'GET', url: `/api/clients/${encodeURIComponent('ip:2001:db8:1:2::5')}`, headers });
    assert.equal(view.statusCode, 200, `${name}: ${view.body}`);
    assert.equal(view.json().block?.reason, 'abuse', name);
    assert.equal(view.json().client, 'ip:2001:db8:1:2::/64', name);
    await app.close();
  }
});
