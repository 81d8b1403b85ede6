/**
 * An upstream may answer before it has read the whole request body (a 413 or 401 on sight of the
 * headers). undici then drops the upstream connection and stops reading the client's body; the
 * client's connection was left open, paused, neither read nor closed, with no timeout: the client
 * got its answer but its upload (and its connection, and the sidecar's socket) hung for ever. Like
 * nginx, the sidecar must end that connection after the answer (the rest of the body is not read).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';

/** Uploads `total` bytes on a raw connection; resolves with what came back and whether the connection ended after the answer. */
function upload(port: number, path: string, total: number): Promise<{ answer: string; ended: boolean }> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    let answer = '';
    let ended = false;
    const finish = (): void => {
      clearTimeout(timer);
      c.destroy();
      resolve({ answer, ended });
    };
    // the client gives up 8 s after the answer at the latest (a hang otherwise)
    let timer = setTimeout(finish, 15_000);
    c.on('data', (d) => {
      if (answer === '') {
        clearTimeout(timer);
        timer = setTimeout(finish, 8_000);
      }
      answer += d.toString('latin1');
    });
    c.on('end', () => {
      ended = true;
      finish();
    });
    c.on('close', () => {
      ended = true;
      finish();
    });
    c.on('error', () => undefined);
    c.write(`POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const pump = (): void => {
      while (sent < total && !c.destroyed) {
        sent += chunk.length;
        if (!c.write(chunk)) return void c.once('drain', pump);
      }
    };
    pump();
  });
}

describe('the upstream answers before the upload is over', () => {
  let up: Server;
  let sc: RunningSidecar;
  let bus: MemoryEventBus;
  before(async () => {
    up = createServer((req, res) => {
      if (req.url === '/reset') {
        // reads a little of the body, then the connection breaks
        let got = 0;
        req.on('data', (d: Buffer) => {
          got += d.length;
          if (got > 1024 * 1024) req.socket.destroy();
        });
        return;
      }
      if (req.url === '/small') {
        req.resume();
        req.on('end', () => res.end('ok'));
        return;
      }
      res.writeHead(413, { 'content-type': 'text/plain', 'content-length': '8' });
      res.end('too big\n');
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    const p = parsePolicy('version: 1\nstore: { kind: memory }\nupstream: { timeout: 30s }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n');
    if (!p.ok) throw new Error(JSON.stringify(p.errors));
    bus = new MemoryEventBus();
    sc = await startSidecar({ policy: p.policy, upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), eventSink: bus, drainSeconds: 1 });
  });
  after(async () => {
    await sc.close();
    up.closeAllConnections();
    up.close();
  });
  const total = 64 * 1024 * 1024;

  test('an early answer (413) reaches the client, then the connection ends; one event', { timeout: 30_000 }, async () => {
    const before = bus.pending().length;
    const r = await upload(sc.port, '/upload', total);
    assert.match(r.answer, /^HTTP\/1\.1 413 /, 'the client gets the upstream’s answer');
    assert.ok(r.ended, 'the client connection was left hanging after the answer');
    const events = bus.pending().slice(before);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.status, 413);
    assert.equal((await fetch(sc.address + '/small', { method: 'POST', body: 'x' })).status, 200, 'the sidecar is fine afterwards');
  });

  test('the upstream connection breaks in the middle of the upload: a 502, then the connection ends; one event', { timeout: 30_000 }, async () => {
    const before = bus.pending().length;
    const r = await upload(sc.port, '/reset', total);
    assert.match(r.answer, /^HTTP\/1\.1 502 /);
    assert.ok(r.ended, 'the client connection was left hanging after the 502');
    assert.equal(bus.pending().length - before, 1);
    assert.equal((await fetch(sc.address + '/small', { method: 'POST', body: 'x' })).status, 200, 'the sidecar is fine afterwards');
  });
});
