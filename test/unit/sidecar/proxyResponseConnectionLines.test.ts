/**
 * The headers an upstream's Connection header names are hop-by-hop (RFC 9110 §7.6.1) and stop at the
 * sidecar — including when the Connection field comes on more than one line (a list may be split
 * across lines, RFC 9110 §5.3). Only the last line's names used to be removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo } from 'node:net';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { clientResponseHeaders } from '../../../sidecar/proxy/headers.js';

test('clientResponseHeaders: names from every Connection line are removed', () => {
  const raw = ['Connection', 'X-Hop-A', 'X-Hop-A', 'a', 'Connection', 'keep-alive, X-Hop-B', 'X-Hop-B', 'b', 'Connection', 'keep-alive', 'X-Kept', 'k'].map((s) => Buffer.from(s, 'latin1'));
  assert.deepEqual(clientResponseHeaders(raw, []), ['X-Kept', 'k']);
});

test('through the sidecar: a header named on the first of two Connection lines does not reach the client', async () => {
  const up = createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nConnection: X-Upstream-Secret\r\nConnection: close\r\nX-Upstream-Secret: s3cr3t\r\nContent-Length: 2\r\n\r\nok'));
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const p = parsePolicy('version: 1\nstore: { kind: memory }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n');
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  const sc = await startSidecar({ policy: p.policy, upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), drainSeconds: 1 });
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      const c = connect(sc.port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => (got += d.toString('latin1')));
      c.on('close', () => resolve(got));
      c.on('error', reject);
      c.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(answer, /x-upstream-secret/i);
  } finally {
    await sc.close();
    up.close();
  }
});
