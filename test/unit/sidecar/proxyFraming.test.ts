/**
 * HTTP/1.1 framing edges at the proxy, with exact bytes both ways (raw TCP client and upstream).
 *
 * - A reason phrase that is not ASCII (RFC 9112 §4 allows obs-text; legacy servers send Latin-1,
 *   some send UTF-8): undici decodes it as UTF-8 and Node refused to write the result, so the
 *   client got no answer at all, and its exchange stayed in flight (no event) until it gave up.
 * - A request transfer coding other than chunked (`gzip, chunked`): Node removes only the chunked
 *   framing, so the upstream got the still-gzipped bytes as a plain body. It is answered 501
 *   (RFC 9112 §6.1), as nginx answers it, and never forwarded.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import type { RunningSidecar } from '../../../sidecar/server.js';
import { startProxySidecar } from '../../helpers/proxySidecar.js';

const ANSWERS: Record<string, Buffer> = {
  // "Très bien" in Latin-1 (è = 0xE8, not UTF-8)
  '/latin1': Buffer.concat([Buffer.from('HTTP/1.1 200 Tr'), Buffer.from([0xe8]), Buffer.from('s bien\r\nContent-Length: 2\r\n\r\nok')]),
  // "好" in UTF-8 (a character Node cannot write as one byte)
  '/utf8': Buffer.concat([Buffer.from('HTTP/1.1 200 '), Buffer.from('好', 'utf8'), Buffer.from('\r\nContent-Length: 2\r\n\r\nok')]),
  // a control character in the phrase
  '/ctl': Buffer.from('HTTP/1.1 201 Cre\x01ated\r\nContent-Length: 2\r\n\r\nok', 'latin1'),
  '/ok': Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
};

/** Answers ANSWERS[path] to each request (reading a Content-Length body first); records what it received. */
function rawUpstream(): Promise<{ server: Server; port: number; received: string[] }> {
  const received: string[] = [];
  const server = createServer((s) => {
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        let len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const last = buf.indexOf('\r\n0\r\n\r\n', end + 2);
          if (last < 0) return;
          len = last + 7 - (end + 4);
        }
        if (buf.length < end + 4 + len) return;
        received.push(buf.slice(0, end + 4 + len));
        buf = buf.slice(end + 4 + len);
        const path = head.split(' ')[1] ?? '/';
        s.write(ANSWERS[path] ?? ANSWERS['/ok']!);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, received })));
}

/** Sends `request` on a fresh connection; resolves with the raw answer bytes once `answers` whole answers (head + Content-Length body) came, or what came within `ms`. */
function ask(port: number, request: string, answers = 1, ms = 5_000): Promise<{ answer: Buffer; complete: boolean }> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const done = (complete: boolean): void => {
      clearTimeout(timer);
      c.destroy();
      resolve({ answer: got, complete });
    };
    const timer = setTimeout(() => done(false), ms);
    c.on('error', () => undefined);
    c.on('close', () => done(false));
    c.on('data', (d) => {
      got = Buffer.concat([got, d]);
      const text = got.toString('latin1');
      let at = 0;
      for (let n = 0; n < answers; n++) {
        const end = text.indexOf('\r\n\r\n', at);
        if (end < 0) return;
        at = end + 4 + Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(at, end))?.[1] ?? 0);
        if (got.length < at) return;
      }
      done(true);
    });
    c.write(request);
  });
}

describe('HTTP/1.1 framing at the proxy', () => {
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

  test("a reason phrase that is not ASCII: the upstream's answer reaches the client, and its event is emitted at once", async () => {
    for (const [path, status, phrase] of [
      ['/latin1', 200, Buffer.from('OK')], // bytes undici could not decode: the standard phrase
      ['/utf8', 200, Buffer.from('好', 'utf8')], // UTF-8: its bytes kept
      ['/ctl', 201, Buffer.from('Created')], // a phrase Node cannot write: the standard one
    ] as const) {
      const before = bus.pending().length;
      const r = await ask(sc.port, `GET ${path} HTTP/1.1\r\nHost: app\r\n\r\n`);
      // before: no byte at all came back, and the exchange stayed in flight until the client left
      assert.ok(r.complete, `${path}: no complete answer within 5 s (got ${JSON.stringify(r.answer.toString('latin1'))})`);
      const line = r.answer.subarray(0, r.answer.indexOf('\r\n'));
      assert.deepEqual(line, Buffer.concat([Buffer.from(`HTTP/1.1 ${status} `), phrase]), `${path}: status line ${JSON.stringify(line.toString('latin1'))}`);
      assert.ok(r.answer.toString('latin1').endsWith('\r\n\r\nok'));
      const ev = await waitForEvent(bus, before);
      assert.equal(ev.status, status);
    }
  });

  test('a transfer coding other than chunked is answered 501 and never forwarded; the connection serves the next request', async () => {
    for (const te of ['gzip, chunked', 'deflate\r\nTransfer-Encoding: chunked']) {
      const before = bus.pending().length;
      const received = up.received.length;
      const body = '3\r\nabc\r\n0\r\n\r\n';
      const r = await ask(sc.port, `POST /te HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: ${te}\r\n\r\n${body}`);
      assert.ok(r.complete, `${te}: no complete answer (got ${JSON.stringify(r.answer.toString('latin1'))})`);
      const text = r.answer.toString('latin1');
      // before: forwarded as a 3-byte plain body, the gzip coding silently lost
      assert.match(text, /^HTTP\/1\.1 501 /, te);
      assert.match(text, /"error":"not_implemented"/);
      const ev = await waitForEvent(bus, before);
      assert.equal(ev.status, 501);
      assert.equal(ev.selfAnswered, true);
      assert.equal(up.received.length, received, `${te} reached the upstream`);
    }
    // the chunked framing itself was understood: the connection reads past the body to the next request
    const before = bus.pending().length;
    const r = await ask(sc.port, `POST /te HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /ok HTTP/1.1\r\nHost: app\r\n\r\n`, 2);
    assert.ok(r.complete, `got ${JSON.stringify(r.answer.toString('latin1'))}`);
    assert.match(r.answer.toString('latin1'), /^HTTP\/1\.1 501 [^]*\}HTTP\/1\.1 200 OK\r\n[^]*ok$/);
    assert.equal((await waitForEvent(bus, before + 1)).status, 200);
    // plain chunked still passes, decoded and re-framed
    const ok = await ask(sc.port, `POST /ok HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
    assert.match(ok.answer.toString('latin1'), /^HTTP\/1\.1 200 /);
    assert.match(up.received.at(-1)!, /abc/);
  });
});

async function waitForEvent(bus: MemoryEventBus, after: number): Promise<{ status: number; selfAnswered?: boolean }> {
  for (let i = 0; i < 500; i++) {
    const all = bus.pending();
    if (all.length > after) return all[after]!;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no event');
}
