/**
 * A client key in `/api/clients/:key` can be long (a hybrid key of API key id, user and address is
 * past fastify's default 100-character route parameter once URL-encoded): the analyzer's API answers
 * it like any other key — 404 problem+json for one it knows nothing of — not a bare 414.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import * as api from '../../../analyzer/api/index.js';
import { httpRequest } from '../../helpers/proc.js';

test('GET /api/clients/:key with a long hybrid key is a 404 problem, not a 414', async () => {
  const parsed = parsePolicy('version: 1\nrules: []\n');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const reports = new MemoryReportStore();
  const plane = new MemoryControlPlane();
  const analyzer = await startAnalyzer({
    policy: parsed.policy,
    source: new MemoryEventBus(),
    controlPlane: plane,
    reports,
    listen: { host: '127.0.0.1', port: 0 },
    model: null,
    logger: false,
    plugins: [
      async (app, state) => {
        const backend = api.operatorBackendFor(state.analyzer, { reports, plane, cooldownMs: 60_000 });
        await app.register(api.operatorPlugin, { backend, adminToken: 'admin-token-for-test', readonlyToken: null });
      },
    ],
  });
  try {
    const key = 'apiKey:3f9a0c2e51b7d4a8c0ffee|user:someone.with.a.rather.long.name@subsidiary.example.com|ip:2001:db8:1:2::';
    const path = `/api/clients/${encodeURIComponent(key)}`;
    assert.ok(path.length - '/api/clients/'.length > 100, 'the encoded key is past the default parameter length');
    const res = await httpRequest(analyzer.address + path, { headers: { authorization: 'Bearer admin-token-for-test' } });
    assert.equal(res.status, 404, res.text);
    assert.match(String(res.headers['content-type']), /application\/problem\+json/);
    assert.match(res.json<{ detail: string }>().detail, /someone\.with\.a\.rather\.long\.name@subsidiary/);
  } finally {
    await analyzer.close();
  }
});
