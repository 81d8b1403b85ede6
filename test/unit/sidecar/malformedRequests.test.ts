/**
 * Requests that never reach the proxy — what Node's HTTP parser refuses (unparseable, headers over
 * 16 KiB) and CONNECT — make no event, so they are counted in `malformed_requests_total{reason}`;
 * CONNECT, which is not proxied, gets a 405 instead of a connection closed without a word.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { metricValue, startStubUpstream } from '../../helpers/proc.js';

function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => (got += d.toString('latin1')));
    c.on('close', () => resolve(got));
    c.on('error', () => resolve(got));
    c.write(request);
  });
}

test('unparseable requests, oversized headers and CONNECT are answered and counted; none reaches the upstream', async () => {
  const up = await startStubUpstream();
  const p = parsePolicy('version: 1\nstore: { kind: memory }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n');
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  const bus = new MemoryEventBus();
  const sc = await startSidecar({ policy: p.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), eventSink: bus, drainSeconds: 1 });
  try {
    const connectAnswer = await raw(sc.port, 'CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n');
    assert.match(connectAnswer, /^HTTP\/1\.1 405 /, JSON.stringify(connectAnswer));
    const big = await raw(sc.port, `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /, big.split('\r\n')[0]);
    const junk = await raw(sc.port, 'GET /x HTTP/1.1\r\nHost a\r\n\r\n');
    assert.match(junk, /^HTTP\/1\.1 400 /, junk.split('\r\n')[0]);
    const metrics = await sc.metrics.registry.metrics();
    assert.equal(metricValue(metrics, 'ratewarden_malformed_requests_total', { reason: 'connect' }), 1);
    assert.equal(metricValue(metrics, 'ratewarden_malformed_requests_total', { reason: 'headers_too_large' }), 1);
    assert.equal(metricValue(metrics, 'ratewarden_malformed_requests_total', { reason: 'unparseable' }), 1);
    assert.equal(up.arrived(), 0);
    assert.equal(bus.pending().length, 0, 'no events: the proxy never saw them');
  } finally {
    await sc.close();
    await up.close();
  }
});

test('the 405 answer to CONNECT names the methods the sidecar forwards in Allow (RFC 9110 §15.5.6)', async () => {
  const up = await startStubUpstream();
  const p = parsePolicy('version: 1\nstore: { kind: memory }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n');
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  const sc = await startSidecar({ policy: p.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), eventSink: new MemoryEventBus(), drainSeconds: 1 });
  try {
    const answer = await raw(sc.port, 'CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 405 /, JSON.stringify(answer));
    const allow = /\r\nAllow: ([^\r]*)\r\n/i.exec(answer)?.[1];
    assert.ok(allow !== undefined, `no Allow header in ${JSON.stringify(answer)}`);
    const methods = allow.split(/,\s*/);
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) assert.ok(methods.includes(m), `${m} in Allow: ${allow}`);
    assert.ok(!methods.includes('CONNECT'), `CONNECT is not allowed: ${allow}`);
  } finally {
    await sc.close();
    await up.close();
  }
});

test('a CONNECT client that never closes its side does not hold its connection (or the shutdown) for ever', { timeout: 60_000 }, async () => {
  const up = await startStubUpstream();
  const p = parsePolicy('version: 1\nstore: { kind: memory }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n');
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  const sc = await startSidecar({ policy: p.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), eventSink: new MemoryEventBus(), drainSeconds: 1 });
  // the client reads the 405 and the sidecar's FIN, but never ends its own half of the connection
  const c = connect({ port: sc.port, host: '127.0.0.1', allowHalfOpen: true });
  let got = '';
  c.on('error', () => undefined);
  c.on('data', (d) => (got += d.toString('latin1')));
  const ended = new Promise<void>((resolve) => c.once('end', resolve));
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  c.write('CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n');
  try {
    await ended;
    assert.match(got, /^HTTP\/1\.1 405 /);
    // before: the sidecar only half-closed (its server allows half-open sockets) and nothing timed the
    // socket out, so it stayed open (FIN-WAIT-2, one descriptor) as long as the client liked, and
    // close() waited on it for ever. Now it is closed after the lingering time (5 s).
    // The sidecar closing its descriptor sends nothing (its FIN is out): bytes the client sends to
    // a closed socket are answered with a reset, which closes the client's side.
    const poke = setInterval(() => c.write('x'), 250);
    const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 30_000).unref())]);
    clearInterval(poke);
    assert.equal(outcome, 'closed');
    const shutdown = await Promise.race([sc.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('close() still waiting'), 30_000).unref())]);
    assert.equal(shutdown, 'closed');
  } finally {
    c.destroy();
    await sc.close();
    await up.close();
  }
});
