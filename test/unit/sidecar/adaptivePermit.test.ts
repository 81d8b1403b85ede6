/**
 * The adaptive-concurrency permit is settled when the upstream's response headers arrive, not when
 * its body ends (sidecar/adaptive/README.md): a server-sent-event stream, a long poll or a large
 * download holds no slot, so it does not get everything else shed. The sample the limit learns from
 * is the RTT to those headers. Every path settles the permit exactly once: headers then a body
 * error, an error before headers, a client abort before headers, a timeout.
 */
import { test, describe, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http, { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import type { CallEvent } from '../../../models/events.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { PriorityLimiter, type Permit } from '../../../sidecar/adaptive/index.js';
import { httpRequest, metricValue, waitFor } from '../../helpers/proc.js';

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

const POLICY = policy(`
version: 1
tiers: { free: { shedPriority: 0 } }
store: { kind: memory }
upstream: { timeout: 300ms, adaptiveConcurrency: { strategy: aimd, minLimit: 2, maxLimit: 2, initialLimit: 2 } }
rules:
  - { id: g, key: [global], algorithm: token-bucket, rate: 1000/s, burst: 1000 }
`);

/** Every call of PriorityLimiter.settle: `effective` when the permit was not settled yet. */
interface SettleCall {
  readonly permit: Permit;
  readonly effective: boolean;
  readonly sample: boolean;
  readonly didDrop: boolean;
  readonly rttMs: number;
}

describe('the adaptive permit ends at the response headers', () => {
  const streams: ServerResponse[] = [];
  let up: Server;
  let bus: MemoryEventBus;
  let sc: RunningSidecar;
  const calls: SettleCall[] = [];
  const realSettle = PriorityLimiter.prototype.settle;

  before(async () => {
    PriorityLimiter.prototype.settle = function (this: PriorityLimiter, permit: Permit, rttMs: number, didDrop: boolean, sample: boolean): void {
      calls.push({ permit, effective: !permit.settled, sample, didDrop, rttMs });
      realSettle.call(this, permit, rttMs, didDrop, sample);
    };
    up = createServer((req, res) => {
      req.resume();
      const url = req.url ?? '';
      if (url.startsWith('/stream')) {
        // headers and a first event at once, then the body stays open until the test ends it
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: hello\n\n');
        streams.push(res);
      } else if (url === '/reset') req.socket.destroy(); // no answer at all
      else if (url === '/hang') {
        // never answers (the sidecar's upstream.timeout ends it, or the client leaves)
      } else res.end('{"ok":true}');
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    bus = new MemoryEventBus();
    sc = await startSidecar({
      policy: POLICY,
      upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`,
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      eventSink: bus,
      logger: silentLogger(),
      service: 'shop',
      drainSeconds: 0,
    });
  });

  after(async () => {
    PriorityLimiter.prototype.settle = realSettle;
    for (const s of streams.splice(0)) s.end();
    await sc?.close();
    up?.closeAllConnections();
    up?.close();
  });

  beforeEach(() => {
    calls.length = 0;
  });
  afterEach(async () => {
    // a failed test must not leave streams holding slots for the next one
    for (const s of streams.splice(0)) s.end();
    await waitFor(async () => (await inflightGauge()) === 0, 'no adaptive permit in flight');
  });

  /** The calls that settled a permit (a call on a settled permit does nothing). */
  const settles = (): SettleCall[] => calls.filter((c) => c.effective);

  const inflightGauge = async (): Promise<number | null> => metricValue((await httpRequest(`${sc.adminAddress}/metrics`)).text, 'ratewarden_adaptive_inflight');

  /** Opens a stream through the sidecar; resolves once its headers and first chunk reached the client. */
  function openStream(path: string): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; ended: Promise<string> }> {
    return new Promise((resolve, reject) => {
      const req = http.get(`${sc.address}${path}`, (res) => {
        const ended = new Promise<string>((done) => {
          res.on('end', () => done('end'));
          res.on('aborted', () => done('aborted'));
          res.on('error', () => done('error'));
          res.on('close', () => done('close'));
        });
        res.once('data', () => resolve({ req, res, ended }));
      });
      req.on('error', reject);
    });
  }

  test('with limit 2 and two streams whose headers arrived, a third request is admitted, not shed', async () => {
    const a = await openStream('/stream/a');
    const b = await openStream('/stream/b');
    assert.equal(await inflightGauge(), 0, 'the streams hold no slot once their headers arrived');
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(`${sc.address}/api/${i}`);
      assert.equal(r.status, 200, `request ${i} while two streams are open`);
    }
    // each stream's permit was settled once, as a success sample with the RTT to its headers
    const streamSettles = settles().slice(0, 2);
    assert.equal(streamSettles.length, 2);
    for (const c of streamSettles) assert.deepEqual([c.sample, c.didDrop], [true, false]);
    for (const s of streams.splice(0)) s.end('data: bye\n\n');
    assert.equal(await a.ended, 'end');
    assert.equal(await b.ended, 'end');
    assert.equal(await inflightGauge(), 0);
    // 2 streams + 3 requests: five permits, each settled exactly once
    assert.equal(settles().length, 5);
    assert.equal(new Set(settles().map((c) => c.permit)).size, 5);
    assert.equal(new Set(calls.map((c) => c.permit)).size, 5);
    // the requests' events still cover the whole response
    const evs = (bus as unknown as { queue: CallEvent[] }).queue.filter((e) => e.route.startsWith('/stream/'));
    assert.equal(evs.length, 2);
    for (const e of evs) assert.ok(e.bytesOut > 'data: hello\n\n'.length, 'the stream event counts the bytes after the headers too');
  });

  test('headers, then the body fails: one settle, at the headers, a success — the body error does not settle it again', async () => {
    const s = await openStream('/stream/broken');
    assert.equal(settles().length, 1, 'settled when the headers arrived, while the body is still open');
    assert.deepEqual([settles()[0]!.sample, settles()[0]!.didDrop], [true, false]);
    const upstreamRes = streams.pop()!;
    upstreamRes.socket!.destroy(); // the upstream fails in the middle of its body
    assert.notEqual(await s.ended, 'end', 'the client connection is cut');
    await waitFor(() => (bus as unknown as { queue: CallEvent[] }).queue.some((e) => e.route === '/stream/broken'), 'the event of the broken stream');
    assert.equal(settles().length, 1, 'no second settle from the body failure');
    assert.equal(new Set(calls.map((c) => c.permit)).size, 1);
    assert.equal(await inflightGauge(), 0);
  });

  test('headers, then the client leaves: one settle, at the headers', async () => {
    const s = await openStream('/stream/left');
    assert.equal(settles().length, 1);
    s.req.destroy();
    await waitFor(() => (bus as unknown as { queue: CallEvent[] }).queue.some((e) => e.route === '/stream/left'), 'the event of the abandoned stream');
    assert.equal(settles().length, 1);
    assert.equal(new Set(calls.map((c) => c.permit)).size, 1);
    assert.deepEqual([settles()[0]!.sample, settles()[0]!.didDrop], [true, false]);
  });

  test('an error before the headers: one settle, a drop', async () => {
    const r = await httpRequest(`${sc.address}/reset`);
    assert.equal(r.status, 502);
    assert.equal(settles().length, 1);
    assert.equal(new Set(calls.map((c) => c.permit)).size, 1);
    assert.deepEqual([settles()[0]!.sample, settles()[0]!.didDrop], [true, true]);
    assert.equal(await inflightGauge(), 0);
  });

  test('a timeout before the headers: one settle, a drop', async () => {
    const r = await httpRequest(`${sc.address}/hang`);
    assert.equal(r.status, 504);
    assert.equal(settles().length, 1);
    assert.equal(new Set(calls.map((c) => c.permit)).size, 1);
    assert.deepEqual([settles()[0]!.sample, settles()[0]!.didDrop], [true, true]);
    assert.equal(await inflightGauge(), 0);
  });

  test('the client leaves before the headers: one settle, no sample', async () => {
    const req = http.get(`${sc.address}/hang`);
    req.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    await waitFor(() => settles().length > 0, 'the permit of the abandoned request');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settles().length, 1);
    assert.equal(new Set(calls.map((c) => c.permit)).size, 1);
    assert.equal(settles()[0]!.sample, false);
    assert.equal(await inflightGauge(), 0);
  });
});
