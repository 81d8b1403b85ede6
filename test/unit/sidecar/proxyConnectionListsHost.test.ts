/**
 * `Host` passes to the upstream unchanged (sidecar/README.md, Forwarding) and is what the rules'
 * `match.host` saw. A client naming it in its Connection header (`Connection: host`) made the
 * sidecar drop it: undici then sent the upstream's own origin as Host, and X-Forwarded-Host was
 * left out, so the upstream served a request for a host other than the one the limits were decided
 * on. Host is never a connection option (RFC 9110 §7.6.1: a field meant for all recipients); other
 * Connection-listed fields still stop at the sidecar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { rawStatusLine, startStubUpstream } from '../../helpers/proc.js';

test('Connection: host does not take the Host header away from the upstream', async () => {
  const up = await startStubUpstream();
  const p = parsePolicy('version: 1\nstore: { kind: memory }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n');
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  const sc = await startSidecar({ policy: p.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), drainSeconds: 1 });
  try {
    const status = await rawStatusLine(sc.port, 'GET /x HTTP/1.1\r\nHost: shop.example\r\nConnection: host, x-hop\r\nX-Hop: 1\r\n\r\n');
    assert.match(status, /^HTTP\/1\.1 200 /);
    const got = up.requests.at(-1)!;
    assert.equal(got.headers.host, 'shop.example');
    assert.equal(got.headers['x-forwarded-host'], 'shop.example');
    assert.equal(got.headers['x-hop'], undefined, 'other listed fields still stop here');
  } finally {
    await sc.close();
    await up.close();
  }
});
