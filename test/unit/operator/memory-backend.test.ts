/**
 * The operator API as the demo runs it: AnalyzerBackend over the in-memory control plane and report
 * store (no Redis), driven through fastify's inject.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import { LoadHistory } from '../../../analyzer/api/loadHistory.js';
import { operatorPlugin } from '../../../analyzer/api/index.js';
import { ADMIN, makeReport, seedControl, SEEDS } from '../../integration/operator/fixtures.js';

const NOW = Date.UTC(2025, 2, 1);

async function setup() {
  const plane = new MemoryControlPlane();
  const reports = new MemoryReportStore();
  for (const seed of SEEDS) await reports.create(makeReport(seed, NOW));
  await seedControl(plane, NOW);
  const loadHistory = new LoadHistory(100, () => NOW);
  await loadHistory.follow(plane);
  const app = Fastify({ logger: false });
  await app.register(operatorPlugin, { backend: new AnalyzerBackend({ reports, plane, actuator: new Actuator(plane), now: () => NOW, loadHistory }), adminToken: ADMIN, now: () => NOW });
  await app.ready();
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string) => {
    const res = await app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}` } });
    return { status: res.statusCode, body: res.json() };
  };
  return { plane, reports, app, call, loadHistory };
}

test('dismiss on the in-memory control plane lifts the block of that anomaly', async () => {
  const { plane, call, app } = await setup();
  assert.ok((await plane.read()).blocks.has('apiKey:4bc3c1d3a4f2b7e1'));
  assert.equal((await call('POST', '/api/anomalies/an-attacker/dismiss')).status, 200);
  assert.equal((await plane.read()).blocks.has('apiKey:4bc3c1d3a4f2b7e1'), false);
  await app.close();
});

test('dismiss does not lift a block that another anomaly or an operator set later', async () => {
  const { plane, call, reports, app } = await setup();
  await plane.write('block', 'apiKey:4bc3c1d3a4f2b7e1', { until: NOW + 3_600_000, reason: 'operator: keep out', anomalyId: 'later' });
  const res = await call('POST', '/api/anomalies/an-attacker/dismiss');
  assert.equal(res.status, 200);
  assert.equal((await plane.read()).blocks.get('apiKey:4bc3c1d3a4f2b7e1')?.anomalyId, 'later');
  assert.equal((await reports.get('an-attacker'))!.history.at(-1)!.what, 'dismissed');
  await app.close();
});

test('dismissing an escalated report lifts its block and the tighten it escalated from, and nothing of others', async () => {
  const { plane, call, reports, app } = await setup();
  const client = 'apiKey:4bc3c1d3a4f2b7e1';
  // the analyzer tightened first under the same report, then escalated to the seeded block
  await new Actuator(plane).apply(client, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW - 120_000, 'anomaly an-attacker: tighten', 'an-attacker');
  await plane.write('override', `login|${client}`, { multiplier: 0.5, until: NOW + 3_600_000, reason: 'operator', anomalyId: 'ops' });
  assert.equal((await call('POST', '/api/anomalies/an-attacker/dismiss')).status, 200);
  const state = await plane.read();
  assert.equal(state.blocks.has(client), false);
  assert.equal(state.overrides.has(`*|${client}`), false, 'the tighten under the block is lifted too');
  assert.equal(state.overrides.get(`login|${client}`)?.anomalyId, 'ops');
  assert.equal((await reports.get('an-attacker'))!.history.at(-1)!.what, 'unblocked, override removed');
  await app.close();
});

test('the load history follows load messages on the in-memory channel', async () => {
  const { plane, call, app, loadHistory } = await setup();
  await plane.write('load', 'demo-api', { multiplier: 0.4, since: NOW + 1, reason: 'p99 high' });
  await plane.write('load', 'demo-api', null);
  await new Promise((r) => setImmediate(r));
  const res = await call('GET', '/api/load');
  assert.deepEqual(res.body.services, []);
  assert.deepEqual(res.body.history.map((p: { multiplier: number; reason: string }) => [p.multiplier, p.reason]), [
    [0.4, 'p99 high'],
    [1, 'cleared'],
  ]);
  await loadHistory.close();
  await app.close();
});

test('the UI is served from the same server without a token, with a strict CSP, and / redirects to it', async () => {
  const { app } = await setup();
  const index = await app.inject({ method: 'GET', url: '/ui/' });
  assert.equal(index.statusCode, 200);
  assert.match(index.headers['content-security-policy'] as string, /script-src 'self'/);
  assert.match(index.body, /<script type="module" src="app.js">/);
  const uplot = await app.inject({ method: 'GET', url: '/ui/vendor/uPlot.esm.js' });
  assert.equal(uplot.statusCode, 200);
  assert.match(uplot.headers['content-type'] as string, /javascript/);
  assert.equal((await app.inject({ method: 'GET', url: '/ui/../package.json' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/ui/%2e%2e/package.json' })).statusCode, 404);
  const root = await app.inject({ method: 'GET', url: '/' });
  assert.equal(root.statusCode, 302);
  assert.equal(root.headers.location, '/ui/');
  await app.close();
});

test("an operator's block or override on an IPv6 address is written in the sidecars' key form (the policy's prefix), and removed by any address of it", async () => {
  const plane = new MemoryControlPlane();
  const backend = new AnalyzerBackend({ reports: new MemoryReportStore(), plane, now: () => NOW, ipv6Prefix: () => 56 });
  await backend.addBlock({ client: 'ip:2001:DB8:1:2::5', until: NOW + 60_000, reason: 'by hand' }, 'ops');
  assert.deepEqual([...(await plane.read()).blocks.keys()], ['ip:2001:db8:1::/56']);
  await backend.addOverride({ rule: 'r', client: 'apiKey:4bc3c1d3a4f2b7e1|ip:::ffff:10.1.2.3', limit: 1, until: NOW + 60_000, reason: 'by hand' }, 'ops');
  assert.deepEqual([...(await plane.read()).overrides.keys()], ['r|apiKey:4bc3c1d3a4f2b7e1|ip:10.1.2.3']);
  assert.equal(await backend.removeBlock('ip:2001:db8:1:ff::1', 'ops'), true);
  assert.equal((await plane.read()).blocks.size, 0);
  // not an address: written as given (the API's schema already refused malformed keys)
  await backend.addBlock({ client: 'user:alice', until: NOW + 60_000, reason: 'by hand' }, 'ops');
  assert.ok((await plane.read()).blocks.has('user:alice'));
});
