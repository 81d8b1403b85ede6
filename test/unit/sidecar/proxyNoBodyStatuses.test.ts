/**
 * 304 and 204 answers never have a body (RFC 9112 §6.3), whatever their Content-Length says: a 304
 * may carry the Content-Length of the representation it stands for (RFC 9110 §8.6; ASP.NET and
 * others send it). undici reads such a Content-Length as framing and waits for bytes that never
 * come, so the sidecar held the client's answer until the body timeout and then cut the connection.
 * Raw TCP upstream, so the answers are exactly the bytes under test.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import type { RunningSidecar } from '../../../sidecar/server.js';
import { startProxySidecar } from '../../helpers/proxySidecar.js';

const ANSWERS: Record<string, string> = {
  '/304-cl': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 1234\r\n\r\n',
  '/204-cl': 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n',
  '/304-chunked': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nTransfer-Encoding: chunked\r\n\r\n',
  '/200': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
};

/** Answers each request (headers only, these requests have no body) with ANSWERS[path]; counts connections. */
function rawUpstream(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const path = head.split(' ')[1] ?? '/';
        s.write(ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, connections: () => connections })));
}

/** One request on a fresh connection; resolves with the whole answer once it is complete (head + no body), or what came within `ms`. */
function ask(port: number, path: string, ms = 5_000): Promise<{ head: string; ms: number; complete: boolean }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = connect(port, '127.0.0.1');
    let got = '';
    const done = (complete: boolean): void => {
      clearTimeout(timer);
      c.destroy();
      resolve({ head: got, ms: performance.now() - t0, complete });
    };
    const timer = setTimeout(() => done(false), ms);
    c.on('error', () => undefined);
    c.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) done(true);
    });
    c.write(`GET ${path} HTTP/1.1\r\nHost: app\r\nIf-None-Match: "v1"\r\n\r\n`);
  });
}

describe('answers without a body', () => {
  let up: Awaited<ReturnType<typeof rawUpstream>>;
  let sc: RunningSidecar;
  let bus: MemoryEventBus;
  before(async () => {
    up = await rawUpstream();
    bus = new MemoryEventBus();
    sc = await startProxySidecar(`http://127.0.0.1:${up.port}`, { eventSink: bus });
  });
  after(async () => {
    await sc.close();
    up.server.close();
  });

  for (const [path, status] of [['/304-cl', 304], ['/204-cl', 204], ['/304-chunked', 304]] as const) {
    test(`${path}: ${status} reaches the client at once, with its headers, and the event records it`, async () => {
      const before = bus.pending().length;
      const r = await ask(sc.port, path);
      // before, nothing came until the upstream timeout (10 s) cut the connection
      assert.ok(r.complete, `no answer within 5 s (got ${JSON.stringify(r.head)})`);
      assert.match(r.head, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.match(r.head, /\r\nx-ratelimit-remaining: \d+/i);
      if (status === 304) assert.match(r.head, /\r\nETag: "v1"/i);
      assert.doesNotMatch(r.head, /transfer-encoding/i, 'a 304/204 carries no framing of a body');
      const ev = await waitForEvent(bus, before);
      assert.equal(ev.status, status);
    });
  }

  test('the sidecar keeps working after them (the next answer on a reused pool is intact)', async () => {
    const r = await ask(sc.port, '/200');
    assert.ok(r.complete);
    assert.match(r.head, /^HTTP\/1\.1 200 /);
  });
});

async function waitForEvent(bus: MemoryEventBus, after: number): Promise<{ status: number }> {
  for (let i = 0; i < 100; i++) {
    const all = bus.pending();
    if (all.length > after) return all[after]!;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no event');
}
