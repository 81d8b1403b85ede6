/**
 * `selfAnswered` on the CallEvent (models/events.ts): true on every answer the sidecar made itself,
 * without calling the upstream, for a reason other than a limit or block — the draining 503, the
 * 400/401/413 refusals, the adaptive-concurrency shed, the 503 of an engine or internal error — so
 * the analyzer's load watcher does not take them for upstream answers (a 503 as an upstream 5xx, a
 * 400 as a near-zero latency sample). Absent (not false) everywhere else: a forwarded answer, the
 * upstream's own 5xx, the sidecar's 502/504 when it could not reach the upstream (the watcher's
 * evidence of an outage), a 429 — so the bytes of those events are unchanged.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http, { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { SHED_RULE, type CallEvent } from '../../../models/events.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar, type SidecarOptions } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { encodeCallEventFast } from '../../../sidecar/events/callEvent.js';
import { httpRequest, rawStatusLine, startStubUpstream, waitFor } from '../../helpers/proc.js';

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}


function assertSelfAnswered(e: CallEvent | undefined, what: string): void {
  assert.ok(e, `an event for ${what}`);
  assert.equal(e.selfAnswered, true, `${what}: selfAnswered`);
  assert.match(encodeCallEventFast(e), /,"selfAnswered":true\}$/, `${what}: the encoded event carries it`);
}

function assertNotSelfAnswered(e: CallEvent | undefined, what: string): void {
  assert.ok(e, `an event for ${what}`);
  assert.equal('selfAnswered' in e, false, `${what}: selfAnswered is absent`);
  assert.doesNotMatch(encodeCallEventFast(e), /selfAnswered/, `${what}: the encoded event is unchanged`);
}

const BASE = `
version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: memory }
upstream: { timeout: 300ms }
rules:
  - { id: per-key, match: { path: "/api/**" }, key: [apiKey], algorithm: fixed-window, limit: 1, window: 1h }
`;

function start(opts: Partial<SidecarOptions> & { policy: Policy; upstream: string }): Promise<RunningSidecar> {
  return startSidecar({ listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), service: 'shop', drainSeconds: 2, ...opts });
}

/** An upstream that answers at once, except /hold… requests, which it holds in `held` until the test ends them. */
async function holdingUpstream(): Promise<{ up: Server; held: ServerResponse[] }> {
  const held: ServerResponse[] = [];
  const up = createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith('/hold')) held.push(res);
    else res.end('ok');
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  return { up, held };
}

describe('selfAnswered on the events of answers the sidecar made itself', () => {
  test('the draining 503 (a request on an open connection during the drain)', async () => {
    const { up, held } = await holdingUpstream();
    const bus = new MemoryEventBus();
    const sc = await start({ policy: policy(BASE), upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, eventSink: bus });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const get = (path: string): Promise<number> =>
      new Promise((resolve) => {
        const q = http.get(`${sc.address}${path}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        q.on('error', () => resolve(-1));
      });
    // A on a raw connection, so C can be sent on it during the drain (pipelined behind A: an answer
    // made during the drain says Connection: close, so no client reuses a connection after it)
    const conn = connect(sc.port, '127.0.0.1');
    conn.on('error', () => undefined);
    let text = '';
    conn.on('data', (d: Buffer) => (text += d.toString('latin1')));
    try {
      conn.write('GET /hold/a HTTP/1.1\r\nHost: app\r\n\r\n');
      const b = get('/hold/b'); // keeps the drain going while C is sent
      await waitFor(() => held.length === 2, 'both requests at the upstream');
      const closing = sc.close();
      conn.write('GET /c HTTP/1.1\r\nHost: app\r\n\r\n'); // on A's open connection, during the drain
      await waitFor(() => bus.pending().some((e) => e.route === '/c'), 'the event of /c');
      held.shift()!.end('ok');
      await waitFor(() => /^HTTP\/1\.1 200 /.test(text), 'the answer to A');
      held.shift()!.end('ok');
      assert.equal(await b, 200);
      await closing;
      const evs = bus.pending();
      assertSelfAnswered(evs.find((e) => e.route === '/c'), 'the draining 503');
      assert.equal(evs.find((e) => e.route === '/c')!.status, 503);
      for (const route of ['/hold/a', '/hold/b']) assertNotSelfAnswered(evs.find((e) => e.route === route), `forwarded ${route}`);
    } finally {
      conn.destroy();
      agent.destroy();
      up.closeAllConnections();
      up.close();
    }
  });

  test('400 for a non-path target, 413 for an oversized GraphQL body, 401 for an invalid token', async () => {
    const up = await startStubUpstream();
    const bus = new MemoryEventBus();
    const sc = await start({
      policy: policy(`
version: 1
identity: { jwt: { algorithms: [HS256], secretEnv: RW_T_SECRET, rejectInvalid: true } }
store: { kind: memory }
rules:
  - { id: gql, match: { path: /graphql }, key: [ip], algorithm: token-bucket, rate: 1/h, burst: 100, cost: { graphql: { maxDepth: 5, maxCost: 50 } } }
`),
      upstream: up.url,
      eventSink: bus,
      env: { RW_T_SECRET: 'x'.repeat(32) },
    });
    try {
      assert.equal(await rawStatusLine(sc.port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
      const big = await httpRequest(sc.address + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ a }', pad: 'x'.repeat(1_100_000) }) });
      assert.equal(big.status, 413);
      const bad = await httpRequest(sc.address + '/x', { headers: { authorization: 'Bearer not.a.token' } });
      assert.equal(bad.status, 401);
      const ok = await httpRequest(sc.address + '/x');
      assert.equal(ok.status, 200);
      const evs = bus.pending();
      assert.equal(evs.length, 4);
      for (const status of [400, 413, 401]) assertSelfAnswered(evs.find((e) => e.status === status), `the ${status}`);
      assert.equal(up.arrived(), 1, 'only the last request reached the upstream');
      assertNotSelfAnswered(evs.find((e) => e.status === 200), 'the forwarded 200');
    } finally {
      await sc.close();
      await up.close();
    }
  });

  test('the adaptive-concurrency shed; the forwarded requests around it are not', async () => {
    const { up, held } = await holdingUpstream();
    const bus = new MemoryEventBus();
    const sc = await start({
      // one slot for the free tier (share 0.8 of 2)
      policy: policy('version: 1\nstore: { kind: memory }\ntiers: { free: {} }\nrules: []\nupstream: { adaptiveConcurrency: { strategy: aimd, minLimit: 2, maxLimit: 2, initialLimit: 2 } }\n'),
      upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`,
      eventSink: bus,
    });
    try {
      const first = httpRequest(sc.address + '/hold/1');
      await waitFor(() => held.length === 1, 'the first request at the upstream');
      const shed = await httpRequest(sc.address + '/shed');
      assert.equal(shed.status, 503);
      held.shift()!.end('ok');
      assert.equal((await first).status, 200);
      const evs = bus.pending();
      const e = evs.find((x) => x.route === '/shed');
      assert.equal(e?.rule, SHED_RULE);
      assert.equal(e?.decision, 'limited');
      assertSelfAnswered(e, 'the shed 503');
      assertNotSelfAnswered(evs.find((x) => x.route === '/hold/1'), 'the forwarded request');
    } finally {
      await sc.close();
      up.closeAllConnections();
      up.close();
    }
  });

  test('the 503 of an engine error (failMode closed) and of an internal error before forwarding', async () => {
    const up = await startStubUpstream();
    const bus = new MemoryEventBus();
    const sc = await start({
      policy: policy(BASE.replace('kind: memory', 'kind: memory, failMode: closed')),
      upstream: up.url,
      eventSink: bus,
      engineFactory: async (opts) => {
        const { createEngine } = await import('../../../sidecar/engine/index.js');
        const real = createEngine(opts);
        const decide: typeof real.decide = async (f) => {
          if (f.path === '/throws') throw new Error('engine bug');
          const v = await real.decide(f);
          // a verdict no answer can be built from: the internal-error 503
          if (f.path === '/poisoned') return { ...v, get headline(): never { throw new RangeError('Invalid time value'); } };
          return v;
        };
        return Object.assign(Object.create(real) as typeof real, { decide });
      },
    });
    try {
      assert.equal((await httpRequest(sc.address + '/throws')).status, 503);
      assert.equal((await httpRequest(sc.address + '/poisoned')).status, 503);
      assert.equal(up.arrived(), 0);
      const evs = bus.pending();
      assertSelfAnswered(evs.find((e) => e.route === '/throws'), 'the engine-error 503');
      assertSelfAnswered(evs.find((e) => e.route === '/poisoned'), 'the internal-error 503');
    } finally {
      await sc.close();
      await up.close();
    }
  });

  test('absent on a forwarded 200, the upstream’s own 503, a 429, a 504 and a 502', async () => {
    const up = await startStubUpstream();
    const bus = new MemoryEventBus();
    const sc = await start({ policy: policy(BASE), upstream: up.url, eventSink: bus });
    const downBus = new MemoryEventBus();
    const down = await start({ policy: policy(BASE), upstream: 'http://127.0.0.1:1', eventSink: downBus });
    try {
      assert.equal((await httpRequest(sc.address + '/api/ok', { headers: { 'x-api-key': 'k' } })).status, 200);
      assert.equal((await httpRequest(sc.address + '/api/ok', { headers: { 'x-api-key': 'k' } })).status, 429);
      assert.equal((await httpRequest(sc.address + '/status/503')).status, 503);
      assert.equal((await httpRequest(sc.address + '/hang')).status, 504);
      assert.equal((await httpRequest(down.address + '/x')).status, 502);
      const evs = bus.pending();
      for (const status of [200, 429, 503, 504]) assertNotSelfAnswered(evs.find((e) => e.status === status), `the ${status}`);
      assertNotSelfAnswered(downBus.pending().find((e) => e.status === 502), 'the 502');
    } finally {
      await sc.close();
      await down.close();
      await up.close();
    }
  });
});
