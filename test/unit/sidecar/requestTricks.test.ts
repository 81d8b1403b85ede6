/**
 * Requests that the upstream would read differently from the sidecar, so that a limit or a block
 * would not apply to what the upstream serves: they are refused (400) before anything reaches it.
 * - A repeated API-key header: Node joins the values into "a, b", which hashed into a fresh key (and
 *   a fresh budget, and no block) for every second value, while an upstream reading the first value
 *   authenticated the first. The same for the parameter twice, or a header and a parameter that
 *   disagree.
 * - A compressed GraphQL body: the sidecar could not parse it and charged 1 unit, while the server
 *   inflates it and runs the query (maxDepth, maxCost skipped).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { httpRequest, rawStatusLine, startStubUpstream } from '../../helpers/proc.js';

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

function start(p: Policy, upstream: string): Promise<RunningSidecar> {
  return startSidecar({ policy: p, upstream, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), service: 'shop', drainSeconds: 1 });
}

/** The status code of the answer to raw request bytes (headers may repeat). */
const rawStatus = async (port: number, request: string): Promise<number> => Number((await rawStatusLine(port, request)).split(' ')[1]);

describe('requests the upstream would read differently are refused', () => {
  test('more than one API key: 400, never a fresh budget, never past a limit', async () => {
    const up = await startStubUpstream();
    const sc = await start(policy(`
version: 1
identity: { apiKey: { header: x-api-key, query: api_key } }
store: { kind: memory }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 2, window: 1h }
`), up.url);
    try {
      const one = (extra: string, path = '/x'): string => `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nx-api-key: key-A\r\n${extra}\r\n`;
      assert.deepEqual([await rawStatus(sc.port, one('')), await rawStatus(sc.port, one('')), await rawStatus(sc.port, one(''))], [200, 200, 429]);
      const arrived = up.arrived();
      for (let i = 0; i < 5; i++) assert.equal(await rawStatus(sc.port, one(`x-api-key: r${i}\r\n`)), 400, 'header repeated');
      assert.equal(await rawStatus(sc.port, one('', '/x?api_key=other')), 400, 'header and parameter disagree');
      assert.equal(await rawStatus(sc.port, `GET /x?api_key=r1&api_key=key-A HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`), 400, 'parameter repeated');
      assert.equal(up.arrived(), arrived, 'none of them reached the upstream');
      const m = await httpRequest(sc.address + '/x', { headers: { 'x-api-key': 'key-B' } });
      assert.equal(m.status, 200, 'one key is still one key');
    } finally {
      await sc.close();
      await up.close();
    }
  });

  test('a compressed GraphQL body: 400 (it was priced 1 unit while the server inflates and runs it)', async () => {
    const up = await startStubUpstream();
    const sc = await start(policy(`
version: 1
store: { kind: memory }
rules:
  - { id: gql, match: { path: /graphql }, key: [ip], algorithm: token-bucket, rate: 1/h, burst: 50, cost: { graphql: { maxDepth: 3, maxCost: 40 } } }
`), up.url);
    try {
      const deep = JSON.stringify({ query: '{ a { b { c { d { e } } } } }' });
      const plain = await httpRequest(sc.address + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
      assert.equal(plain.status, 400);
      const zipped = await httpRequest(sc.address + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(deep) });
      assert.equal(zipped.status, 400);
      assert.match(zipped.text, /Content-Encoding/);
      assert.equal(up.arrived(), 0);
      const ok = await httpRequest(sc.address + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ a }' }) });
      assert.equal(ok.status, 200);
    } finally {
      await sc.close();
      await up.close();
    }
  });
});
