/**
 * An absolute-form request target (`GET http://api.example/items?x=1 HTTP/1.1`, RFC 9112 §3.2.2),
 * which a server MUST accept and which clients that use the sidecar as their HTTP proxy send, was a
 * 400. It is now the origin-form path it names: matched by the rules, forwarded as that path, with
 * the target's authority as Host. User information in the target, or no host, is still a 400 that
 * reaches nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { startStubUpstream } from '../../helpers/proc.js';

/** One request on its own connection; the answer's head (status line and headers). */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end >= 0) {
        c.destroy();
        resolve(got.slice(0, end));
      }
    });
    c.on('error', reject);
    c.on('close', () => resolve(got));
    c.write(request);
  });
}

const header = (head: string, name: string): string | undefined => new RegExp(`\\r\\n${name}: ([^\\r]*)`, 'i').exec(head)?.[1];

let up: Awaited<ReturnType<typeof startStubUpstream>>;
let sc: RunningSidecar;
const bus = new MemoryEventBus();

before(async () => {
  up = await startStubUpstream();
  const p = parsePolicy(
    'version: 1\nstore: { kind: memory }\nrules:\n' +
      '  - { id: api, match: { path: "/api/**" }, key: [ip], algorithm: fixed-window, limit: 2, window: 1h }\n' +
      '  - { id: tenant, match: { host: tenant.example }, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n',
  );
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  sc = await startSidecar({ policy: p.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), eventSink: bus, drainSeconds: 1 });
});

after(async () => {
  await sc?.close();
  await up?.close();
});

test('an absolute-form target is forwarded as its path and query, with its authority as Host', async () => {
  const head = await exchange(sc.port, 'GET http://tenant.example:8443/api/items?page=2 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 /, head);
  const seen = up.requests.at(-1)!;
  assert.equal(seen.url, '/api/items?page=2');
  assert.equal(seen.headers.host, 'tenant.example:8443');
  assert.equal(seen.headers['x-forwarded-host'], 'tenant.example:8443');
  assert.equal(seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i]!.toLowerCase() === 'host').length, 1, 'one Host line');
  // matched as that path and host: the stricter api rule answers for it
  assert.equal(header(head, 'x-ratelimit-limit'), '2');
  const event = bus.pending().at(-1)!;
  assert.equal(event.route, '/api/items');
  assert.equal(event.status, 200);
});

test('the path of an absolute-form target counts against the same rule as the origin form: no way around a limit', async () => {
  up.reset();
  // the absolute-form request above was the first of the api rule's 2 an hour: this is the second
  const second = await exchange(sc.port, 'GET /api/orders HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
  assert.match(second, /^HTTP\/1\.1 200 /, second.split('\r\n')[0]);
  for (const target of ['http://a.example/api/orders', 'HTTP://A.EXAMPLE/api/orders?x=1']) {
    const head = await exchange(sc.port, `GET ${target} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`);
    assert.match(head, /^HTTP\/1\.1 429 /, `${target}: ${head.split('\r\n')[0]}`);
  }
  assert.equal(up.arrived(), 1, 'only the origin-form request within the limit');
});

test('an absolute-form target without a path is the root', async () => {
  up.reset();
  const head = await exchange(sc.port, 'GET http://tenant.example?q=1 HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 /, head);
  const seen = up.requests.at(-1)!;
  assert.equal(seen.url, '/?q=1');
  assert.equal(seen.headers.host, 'tenant.example');
});

test('user information or no valid host in the target is a 400 that reaches nothing; OPTIONS * is still a 400', async () => {
  up.reset();
  for (const target of ['http://alice:s3cret@tenant.example/x', 'http:///x', 'http://[not-ipv6/x', 'ftp://tenant.example/x', '*']) {
    const head = await exchange(sc.port, `${target === '*' ? 'OPTIONS' : 'GET'} ${target} HTTP/1.1\r\nHost: tenant.example\r\nConnection: close\r\n\r\n`);
    assert.match(head, /^HTTP\/1\.1 400 /, `${target}: ${head.split('\r\n')[0]}`);
  }
  assert.equal(up.arrived(), 0);
  for (const e of bus.pending()) assert.doesNotMatch(JSON.stringify(e), /s3cret|alice/);
});
