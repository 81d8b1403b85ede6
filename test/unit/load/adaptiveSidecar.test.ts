/**
 * The adaptive concurrency limit in the sidecar's request path (in-process sidecar, memory store,
 * in-memory event bus, an upstream that holds requests until told to answer): headroom kept for
 * the enterprise tier, 503 + Retry-After + problem+json for shed requests, no budget spent on them,
 * the event and metrics, and the gate following hot reloads.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { TEMPORARY_REDUCED_CAPACITY } from '../../../sidecar/adaptive/index.js';
import { httpRequest, metricValue, waitFor } from '../../helpers/proc.js';

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

const BASE = `
version: 1
identity: { apiKey: { header: x-api-key } }
clients: { "apiKey:ent-key": { tier: enterprise } }
tiers: { free: {}, enterprise: { shedPriority: 0 } }
store: { kind: memory }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 2, window: 60s, tiers: false }
`;
const ADAPTIVE = `upstream: { adaptiveConcurrency: { strategy: aimd, minLimit: 2, maxLimit: 2, initialLimit: 2 } }\n`;

/** An upstream that answers /hold/* only when released. */
async function holdingUpstream(): Promise<{ url: string; held: ServerResponse[]; release(): void; close(): Promise<void>; server: Server }> {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    if ((req.url ?? '').startsWith('/hold')) held.push(res);
    else res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    server,
    release() {
      for (const res of held.splice(0)) res.end('{"ok":true}');
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}


describe('adaptive concurrency in the sidecar', () => {
  let up: Awaited<ReturnType<typeof holdingUpstream>>;
  let bus: MemoryEventBus;
  let sc: RunningSidecar;

  before(async () => {
    up = await holdingUpstream();
    bus = new MemoryEventBus();
    sc = await startSidecar({
      policy: policy(BASE + ADAPTIVE),
      upstream: up.url,
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      eventSink: bus,
      logger: silentLogger(),
      service: 'shop',
      drainSeconds: 1,
    });
  });

  after(async () => {
    up?.release();
    await sc?.close();
    await up?.close();
  });

  test('free fills only part of the limit, its next request is shed with 503, and enterprise still gets the reserved slot', async () => {
    const first = httpRequest(`${sc.address}/hold/a`, { headers: { 'x-api-key': 'free-a' } });
    await waitFor(() => up.held.length === 1, 'the first free request at the upstream');
    const shed = await httpRequest(`${sc.address}/hold/b`, { headers: { 'x-api-key': 'free-b' } });
    assert.equal(shed.status, 503);
    assert.equal(shed.headers['retry-after'], '1');
    assert.equal(shed.headers['content-type'], 'application/problem+json');
    const body = shed.json<{ type: string; status: number; error: string; retryAfter: number }>();
    assert.equal(body.type, TEMPORARY_REDUCED_CAPACITY);
    assert.equal(body.status, 503);
    assert.equal(body.error, 'overloaded');
    const enterprise = httpRequest(`${sc.address}/hold/c`, { headers: { 'x-api-key': 'ent-key' } });
    await waitFor(() => up.held.length === 2, 'the enterprise request at the upstream');
    up.release();
    assert.equal((await first).status, 200);
    assert.equal((await enterprise).status, 200);
  });

  test('a shed request costs the client none of its budget', async () => {
    // free-b was shed above; its limit is 2 per minute and both still pass
    for (let i = 0; i < 2; i++) assert.equal((await httpRequest(`${sc.address}/x`, { headers: { 'x-api-key': 'free-b' } })).status, 200);
    assert.equal((await httpRequest(`${sc.address}/x`, { headers: { 'x-api-key': 'free-b' } })).status, 429);
  });

  test('the shed request is recorded as limited by @adaptive-concurrency, so the load watcher never takes it for an upstream error', () => {
    const shed = bus.pending().filter((e) => e.status === 503);
    assert.equal(shed.length, 1);
    assert.equal(shed[0]!.decision, 'limited');
    assert.equal(shed[0]!.rule, '@adaptive-concurrency');
    assert.equal(shed[0]!.tier, 'free');
  });

  test('the limit, in-flight count and sheds per tier are on the admin /metrics', async () => {
    const text = (await httpRequest(`${sc.adminAddress}/metrics`)).text;
    assert.equal(metricValue(text, 'ratewarden_adaptive_limit'), 2);
    assert.equal(metricValue(text, 'ratewarden_adaptive_inflight'), 0);
    assert.equal(metricValue(text, 'ratewarden_shed_total', { tier: 'free' }), 1);
    assert.equal(metricValue(text, 'ratewarden_requests_total', { rule: '@adaptive-concurrency', decision: 'limited' }), 1);
  });

  test('a reload without adaptiveConcurrency removes the limit, and one with it brings it back', async () => {
    await sc.applyPolicy(policy(BASE));
    const held = [0, 1, 2].map((i) => httpRequest(`${sc.address}/hold/${i}`, { headers: { 'x-api-key': `k${i}` } }));
    await waitFor(() => up.held.length === 3, 'three free requests at the upstream without a limit');
    assert.equal(metricValue((await httpRequest(`${sc.adminAddress}/metrics`)).text, 'ratewarden_adaptive_limit'), null);
    up.release();
    for (const h of held) assert.equal((await h).status, 200);
    await sc.applyPolicy(policy(BASE + ADAPTIVE));
    assert.equal(metricValue((await httpRequest(`${sc.adminAddress}/metrics`)).text, 'ratewarden_adaptive_limit'), 2);
  });
});
