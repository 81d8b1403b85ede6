/**
 * An anomaly id in `/api/anomalies/:id` of any length is answered like any unknown id: a 404
 * problem+json (after the token is checked, as for every /api request). One past the router's
 * parameter limit (4,096 characters) got fastify's bare 414 JSON — before the token was even looked
 * at — and one of 129…4,096 characters a 400 schema error.
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

const TOKEN = 'admin-token-for-test';

test('GET and POST /api/anomalies/:id with a very long id are 404 problems (401 without a token), never a bare 414', async () => {
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
        await app.register(api.operatorPlugin, { backend, adminToken: TOKEN, readonlyToken: null });
      },
    ],
  });
  try {
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const length of [20, 200, 5_000, 12_000]) {
      const id = 'an-' + 'x'.repeat(length);
      const shown = await httpRequest(`${analyzer.address}/api/anomalies/${id}`, { headers: auth });
      assert.equal(shown.status, 404, `${length}: ${shown.text.slice(0, 200)}`);
      assert.match(String(shown.headers['content-type']), /application\/problem\+json/);
      assert.equal(shown.json<{ error: string }>().error, 'not_found');
      assert.match(shown.json<{ detail: string }>().detail, /^no anomaly an-x/);
      assert.ok(shown.text.length < 1_000, `${length}: the id is not echoed whole (${shown.text.length} bytes)`);
      const confirmed = await httpRequest(`${analyzer.address}/api/anomalies/${id}/confirm`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' });
      assert.equal(confirmed.status, 404, `${length}: ${confirmed.text.slice(0, 200)}`);
      assert.equal(confirmed.json<{ error: string }>().error, 'not_found');
      const anonymous = await httpRequest(`${analyzer.address}/api/anomalies/${id}`);
      assert.equal(anonymous.status, 401, `${length}: ${anonymous.text.slice(0, 200)}`);
    }
  } finally {
    await analyzer.close();
  }
});
