import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requestTarget } from '../../../simulator/calls.js';
import { createSimulation } from '../../../simulator/generate.js';
import { itemExists, nextExistingItem, nextMissingItem, passwordFor } from '../../../simulator/routes.js';
import { defaultScenarios } from '../../../simulator/scenarios.js';
import { startStubUpstream, type StubUpstream } from '../../../simulator/stub-upstream.js';

let stub: StubUpstream;

before(async () => {
  stub = await startStubUpstream();
});

after(async () => {
  await stub.close();
});

async function call(method: string, target: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(stub.url + target, {
    method,
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: res.status, json: await res.json() };
}

test('an existing item is 200 with a JSON body and a deleted or unknown one is 404', async () => {
  const id = nextExistingItem(1);
  assert.ok(itemExists(id));
  const ok = await call('GET', `/api/items/${id}`);
  assert.equal(ok.status, 200);
  assert.equal((ok.json as { id: number }).id, id);
  assert.equal((await call('GET', `/api/items/${nextMissingItem(1)}`)).status, 404);
  assert.equal((await call('GET', '/api/items/999999999')).status, 404);
  assert.equal((await call('GET', '/nowhere')).status, 404);
});

test('login answers 200 for the right password and 401 for a wrong one', async () => {
  assert.equal((await call('POST', '/login', { user: 'alice', password: passwordFor('alice') })).status, 200);
  assert.equal((await call('POST', '/login', { user: 'alice', password: 'guess' })).status, 401);
  assert.equal((await call('POST', '/login', 'not json')).status, 400);
});

test('bad requests are 400 or 422 and good ones 2xx on every other route', async () => {
  assert.equal((await call('GET', '/api/search?q=shoes')).status, 200);
  assert.equal((await call('GET', '/api/search?q=')).status, 400);
  assert.equal((await call('GET', '/api/items?page=2&limit=50')).status, 200);
  assert.equal((await call('POST', '/graphql', { query: '{ me { id } }' })).status, 200);
  assert.equal((await call('POST', '/graphql', { query: 'mutation {' })).status, 400);
  assert.equal((await call('POST', '/reports', { kind: 'sales' })).status, 202);
  assert.equal((await call('POST', '/api/orders', { sku: nextExistingItem(1), qty: 2 })).status, 201);
  assert.equal((await call('POST', '/api/orders', { sku: nextExistingItem(1), qty: 0 })).status, 422);
  assert.equal((await call('GET', '/api/me')).status, 200);
  assert.equal((await call('GET', '/healthz')).status, 200);
});

test('a simulated call sent to the stub gets the status its event predicted', async () => {
  const sim = createSimulation({ seed: 8, duration: '10m', population: { clients: 60 }, scenarios: defaultScenarios(10 * 60_000), serverErrorRate: 0 });
  const sample = [...sim.calls()].filter((_, i) => i % 7 === 0).slice(0, 400);
  const statuses = new Set<number>();
  for (const c of sample) {
    const res = await fetch(stub.url + requestTarget(c), { method: c.method, ...(c.body !== null ? { body: c.body, headers: { 'content-type': 'application/json' } } : {}) });
    await res.arrayBuffer();
    assert.equal(res.status, c.event.status, `${c.method} ${requestTarget(c)} ${c.body ?? ''}`);
    statuses.add(res.status);
  }
  assert.ok(statuses.size >= 3, `statuses seen: ${[...statuses].join(',')}`);
});

test('the stub counts its answers by status', async () => {
  const before = stub.stats().byStatus['401'] ?? 0;
  await call('POST', '/login', { user: 'bob', password: 'x' });
  assert.equal(stub.stats().byStatus['401'], before + 1);
});

test('in fixed-capacity mode latency rises with concurrency and requests past the queue get 503 at once', async () => {
  const limited = await startStubUpstream({ capacity: { workers: 2, serviceMs: 40, queueLimit: 4 } });
  try {
    const one = async () => {
      const t0 = performance.now();
      const res = await fetch(limited.url + `/api/items/${nextExistingItem(1)}`);
      await res.arrayBuffer();
      return { status: res.status, ms: performance.now() - t0 };
    };
    const alone = await one();
    assert.equal(alone.status, 200);
    const crowd = await Promise.all(Array.from({ length: 12 }, one));
    const served = crowd.filter((r) => r.status === 200);
    const shed = crowd.filter((r) => r.status === 503);
    assert.equal(served.length, 6, '2 workers + 4 queued');
    assert.equal(shed.length, 6);
    assert.ok(Math.max(...served.map((r) => r.ms)) > 2 * alone.ms, 'queued requests wait for a worker');
    assert.ok(Math.max(...shed.map((r) => r.ms)) < Math.max(...served.map((r) => r.ms)));
    assert.equal(limited.stats().shed, 6);
  } finally {
    await limited.close();
  }
});

test('errorRate makes a share of answers 500', async () => {
  const flaky = await startStubUpstream({ errorRate: 0.5, seed: 1 });
  try {
    const statuses = [];
    for (let i = 0; i < 60; i++) {
      const res = await fetch(flaky.url + '/api/me');
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    const errors = statuses.filter((s) => s === 500).length;
    assert.ok(errors > 15 && errors < 45, `${errors} of 60`);
  } finally {
    await flaky.close();
  }
});
