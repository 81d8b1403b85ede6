/**
 * Operator decisions that meet each other or a failing control plane (AnalyzerBackend, the backend
 * the analyzer serves), through the API:
 * - an approve still writing its block when another operator dismisses the report must not leave
 *   the block of a dismissed report in force;
 * - a dismiss whose lift cannot be written must not record the report as dismissed with its block
 *   still in force (and a retry refused with 409): it answers 503 and can be retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { MemoryControlPlane, type ControlPlane } from '../../../models/controlPlane.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { AnalyzerBackend, type ActuatorLike } from '../../../analyzer/api/analyzerBackend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import { ADMIN, makeReport, seedControl, SEEDS } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);
const PENDING = SEEDS.find((s) => s.id === 'an-pending')!;
const ATTACKER = SEEDS.find((s) => s.id === 'an-attacker')!;

async function setup(plane: ControlPlane, actuator: ActuatorLike) {
  const reports = new MemoryReportStore();
  for (const seed of SEEDS) await reports.create(makeReport(seed, NOW));
  await seedControl(plane, NOW);
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend: new AnalyzerBackend({ reports, plane, actuator, now: () => NOW }), adminToken: ADMIN, now: () => NOW });
  await app.ready();
  const post = (url: string) => app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${ADMIN}` } });
  return { reports, app, post };
}

test('a dismiss that lands while an approve is still writing its block leaves no block in force', async () => {
  const plane = new MemoryControlPlane();
  const real = new Actuator(plane);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let applying!: () => void;
  const started = new Promise<void>((r) => (applying = r));
  // the control-plane write of the approve is slow (a Redis round trip under load)
  const actuator: ActuatorLike = {
    async apply(...args) {
      applying();
      await gate;
      return real.apply(...args);
    },
  };
  const { reports, app, post } = await setup(plane, actuator);
  const approve = post('/api/anomalies/an-pending/approve');
  await started;
  const dismiss = await post('/api/anomalies/an-pending/dismiss');
  assert.equal(dismiss.statusCode, 200, dismiss.body);
  release();
  await approve;
  const report = (await reports.get('an-pending'))!;
  assert.equal(report.status, 'dismissed');
  assert.equal((await plane.read()).blocks.has(PENDING.client), false, 'the dismissed report must not keep its client blocked');
  await app.close();
});

test('a dismiss whose lift cannot be written answers 503, keeps the status, and can be retried', async () => {
  const inner = new MemoryControlPlane();
  let down = false;
  const plane: ControlPlane = {
    write: (kind, field, value) => (down ? Promise.reject(new Error('connect ECONNREFUSED')) : inner.write(kind, field, value)),
    read: () => inner.read(),
    subscribe: (m, r) => inner.subscribe(m, r),
    close: () => inner.close(),
  };
  const { reports, app, post } = await setup(plane, new Actuator(plane));
  down = true;
  const failed = await post('/api/anomalies/an-attacker/dismiss');
  assert.equal(failed.statusCode, 503, failed.body);
  assert.match(String(failed.headers['content-type']), /^application\/problem\+json/);
  assert.equal(failed.json().error, 'unavailable');
  assert.equal((await reports.get('an-attacker'))!.status, 'actioned', 'not recorded as dismissed while its block is in force');
  assert.ok((await inner.read()).blocks.has(ATTACKER.client));
  down = false;
  const retried = await post('/api/anomalies/an-attacker/dismiss');
  assert.equal(retried.statusCode, 200, retried.body);
  assert.equal((await reports.get('an-attacker'))!.status, 'dismissed');
  assert.equal((await inner.read()).blocks.has(ATTACKER.client), false);
  await app.close();
});

test('a dismissal through the API makes the actuator forget the action: it is not "expired" later on the dismissed report', async () => {
  const plane = new MemoryControlPlane();
  const actuator = new Actuator(plane);
  const { reports, app, post } = await setup(plane, actuator);
  // the analyzer's own action on the attacker (what it wrote, it tracks to expire at its TTL)
  const action = await actuator.apply(ATTACKER.client, { kind: 'block', ttlMs: 600_000 }, NOW, 'anomaly an-attacker', 'an-attacker');
  assert.equal(actuator.pending, 1);
  assert.equal((await post('/api/anomalies/an-attacker/dismiss')).statusCode, 200);
  assert.equal((await plane.read()).blocks.has(ATTACKER.client), false);
  assert.equal(actuator.pending, 0, 'the actuator still holds the lifted block');
  const expired = await actuator.expire(action.until + 1);
  assert.deepEqual(expired.filter((a) => a.anomalyId === 'an-attacker'), [], 'the lifted block would be reported as expired on the dismissed report');
  assert.equal((await reports.get('an-attacker'))!.status, 'dismissed');
  await app.close();
});
