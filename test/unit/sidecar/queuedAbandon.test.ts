/**
 * A client that leaves while its request is held in a leaky bucket's queue (`mode: queue`): the
 * request is over (499) and never reaches the upstream, so it spends no budget — its place in the
 * queue goes to the next request, as a client gone while waiting for an adaptive slot spends none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { httpRequest, waitFor } from '../../helpers/proc.js';
import { facts } from '../engine/helpers.js';
import { createEngine } from '../../../sidecar/engine/index.js';
import type { EngineFactory } from '../../../sidecar/engineLoader.js';

test('a client gone while its request is queued by a leaky bucket frees its place and spends no budget', async () => {
  // one request per 10 s, a queue of up to 15 s: the second request waits ~10 s, a third could not wait ~20 s
  const parsed = parsePolicy(`
version: 1
store: { kind: memory }
headers: [ietf]
rules:
  - { id: q, key: [global], algorithm: leaky-bucket, rate: 1/10s, burst: 1, mode: queue, maxDelay: 15s }
  - { id: n, key: [global], algorithm: fixed-window, limit: 3, window: 1h }
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const arrived: string[] = [];
  const up = createServer((req, res) => {
    arrived.push(req.url ?? '');
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
  const bus = new MemoryEventBus();
  const sc = await startSidecar({ policy: parsed.policy, upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), service: 's', drainSeconds: 1, eventSink: bus });
  const gone = connect(sc.port, '127.0.0.1');
  const connected = new Promise<void>((resolve) => gone.on('connect', resolve));
  try {
    assert.equal((await httpRequest(sc.address + '/first')).status, 200);
    await connected;
    gone.write('GET /gone HTTP/1.1\r\nHost: a\r\n\r\n');
    const decided = (): number => (sc.metrics.decisionSeconds as unknown as { count: number }).count;
    await waitFor(() => decided() === 2, '/gone decided (queued for about 10 s)', 5_000);
    gone.resetAndDestroy(); // an abort while queued
    await waitFor(() => bus.pending().some((e) => e.route === '/gone'), 'the event of /gone', 5_000);
    const ev = bus.pending().find((e) => e.route === '/gone')!;
    assert.equal(ev.status, 499);
    assert.equal(ev.decision, 'queued');
    assert.ok(!arrived.includes('/gone'), 'the abandoned request never reached the upstream');
    // its place is free: the next request is queued for about 10 s, not refused as needing about 20 s,
    // and the fixed window (3 per hour) holds /first and this one only
    const v = await sc.engine().decide(facts());
    assert.equal(v.kind, 'queue', `the next request after the abandoned one: ${v.kind} (retry ${v.retryAfterMs} ms)`);
    assert.ok(v.delayMs > 5_000 && v.delayMs <= 10_000, `delay ${v.delayMs} ms`);
    assert.equal(v.outcomes.find((o) => o.ruleId === 'n')!.remaining, 1);
  } finally {
    gone.destroy();
    await sc.close();
    await new Promise<void>((resolve) => up.close(() => resolve()));
  }
});

test('a client gone while its request was being decided is refunded when the verdict is a queue', async () => {
  const parsed = parsePolicy(`
version: 1
store: { kind: memory }
rules:
  - { id: q, key: [global], algorithm: leaky-bucket, rate: 1/10s, burst: 1, mode: queue, maxDelay: 15s }
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const up = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
  const bus = new MemoryEventBus();
  // the engine's verdict on /gone is held back until its client has left (a slow store round trip)
  let release: (() => void) | null = null;
  const held = new Promise<void>((resolve) => (release = resolve));
  const engineFactory: EngineFactory = async (opts) => {
    const engine = await createEngine(opts);
    const decide = engine.decide.bind(engine);
    engine.decide = async (f) => {
      const v = await decide(f);
      if (f.path === '/gone') await held;
      return v;
    };
    return engine;
  };
  const sc = await startSidecar({ policy: parsed.policy, upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), service: 's', drainSeconds: 1, eventSink: bus, engineFactory });
  const gone = connect(sc.port, '127.0.0.1');
  const connected = new Promise<void>((resolve) => gone.on('connect', resolve));
  try {
    assert.equal((await httpRequest(sc.address + '/first')).status, 200);
    await connected;
    const closed = new Promise<void>((resolve) => gone.on('close', () => resolve()));
    gone.write('GET /gone HTTP/1.1\r\nHost: a\r\n\r\n');
    const decided = (): number => (sc.metrics.decisionSeconds as unknown as { count: number }).count;
    await new Promise((r) => setTimeout(r, 50));
    gone.resetAndDestroy();
    await closed;
    await new Promise((r) => setTimeout(r, 200)); // the sidecar sees the reset
    release!();
    await waitFor(() => decided() === 2, '/gone decided', 5_000);
    await waitFor(() => bus.pending().some((e) => e.route === '/gone'), 'the event of /gone (499 at once, not after its queue delay)', 5_000);
    assert.equal(bus.pending().find((e) => e.route === '/gone')!.status, 499);
    const v = await sc.engine().decide(facts());
    assert.equal(v.kind, 'queue', `the next request after the abandoned one: ${v.kind}`);
  } finally {
    gone.destroy();
    await sc.close();
    await new Promise<void>((resolve) => up.close(() => resolve()));
  }
});
