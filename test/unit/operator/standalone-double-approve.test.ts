/**
 * The standalone backend (tests, UI development) decides like the analyzer's: two operators
 * approving the same pending report at once — one wins, the other gets 409, and the action is
 * written to the control plane once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { StandaloneBackend } from '../../../analyzer/api/standaloneBackend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import { ADMIN, makeReport, SEEDS } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);

test('two concurrent approves of one pending report: one 200, one 409, one block written', async () => {
  const plane = new MemoryControlPlane();
  let writes = 0;
  const write = plane.write.bind(plane);
  plane.write = (async (kind: never, field: string, value: never) => {
    writes++;
    await new Promise((r) => setTimeout(r, 5)); // a Redis round trip
    return write(kind, field, value);
  }) as typeof plane.write;
  const backend = new StandaloneBackend({ plane, now: () => NOW });
  for (const seed of SEEDS) backend.reports.put(makeReport(seed, NOW));
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
  await app.ready();
  const approve = (who: string) => app.inject({ method: 'POST', url: '/api/anomalies/an-pending/approve', headers: { authorization: `Bearer ${ADMIN}`, 'x-operator': who } });
  const results = await Promise.all([approve('alice'), approve('bob')]);
  assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 409]);
  assert.equal(writes, 1, 'the block was written more than once');
  const report = backend.reports.get('an-pending')!;
  assert.equal(report.status, 'actioned');
  assert.equal(report.history.filter((e) => e.what === 'approved').length, 1);
  await app.close();
});

test('a failed approve write leaves the report pending and retryable', async () => {
  const plane = new MemoryControlPlane();
  const write = plane.write.bind(plane);
  let down = true;
  plane.write = ((kind: never, field: string, value: never) => (down ? Promise.reject(new Error('ECONNREFUSED')) : write(kind, field, value))) as typeof plane.write;
  const backend = new StandaloneBackend({ plane, now: () => NOW });
  for (const seed of SEEDS) backend.reports.put(makeReport(seed, NOW));
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => NOW });
  await app.ready();
  const approve = () => app.inject({ method: 'POST', url: '/api/anomalies/an-pending/approve', headers: { authorization: `Bearer ${ADMIN}` } });
  const failed = await approve();
  assert.equal(failed.statusCode, 503);
  assert.equal(backend.reports.get('an-pending')!.status, 'pending');
  down = false;
  assert.equal((await approve()).statusCode, 200);
  assert.equal(backend.reports.get('an-pending')!.status, 'actioned');
  await app.close();
});
