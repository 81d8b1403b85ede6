/**
 * Forwarding headers a client could forge, through the real sidecar (in-process, a recording stub
 * upstream). X-Real-IP, Forwarded (RFC 7239), X-Forwarded-Port and the CDN client-IP headers
 * (True-Client-IP, CF-Connecting-IP, …) from an untrusted peer used to reach the upstream unchanged,
 * so a client could make the app believe any address. Now: X-Real-IP is always the address the
 * sidecar keyed the client by, and the other claims pass only from a trusted proxy
 * (sidecar/README.md, Forwarding; unit cases in proxyHeaders.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { httpRequest, startStubUpstream, type RecordedRequest, type StubUpstream } from '../../helpers/proc.js';

const RULES = `store: { kind: memory }
rules:
  - { id: g, key: [ip], algorithm: fixed-window, limit: 1000, window: 1h }
`;

async function sidecar(trustedProxies: string, upstream: string): Promise<RunningSidecar> {
  const p = parsePolicy(`version: 1\nidentity: { trustedProxies: [${trustedProxies}], ipv6Prefix: 64 }\n${RULES}`);
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  return startSidecar({ policy: p.policy, upstream, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), drainSeconds: 1 });
}

/** What a client (or a proxy in front) claims about who is calling. */
const CLAIMS = {
  'x-real-ip': '6.6.6.6',
  forwarded: 'for=6.6.6.6;proto=https',
  'x-forwarded-port': '443',
  'true-client-ip': '6.6.6.6',
  'cf-connecting-ip': '6.6.6.6',
  'x-client-ip': '6.6.6.6',
};

describe('forwarding headers a client could forge', () => {
  let up: StubUpstream;
  let untrusting: RunningSidecar;
  let trusting: RunningSidecar;

  before(async () => {
    up = await startStubUpstream();
    // the test client (127.0.0.1) is a trusted proxy to the second sidecar only
    [untrusting, trusting] = await Promise.all([sidecar('10.99.0.0/16', up.url), sidecar('127.0.0.1/32', up.url)]);
  });
  after(async () => {
    await Promise.all([untrusting?.close(), trusting?.close()]);
    await up?.close();
  });

  async function seen(sc: RunningSidecar, headers: Record<string, string>): Promise<RecordedRequest> {
    const before = up.requests.length;
    const r = await httpRequest(sc.address + '/who', { headers });
    assert.equal(r.status, 200);
    assert.equal(up.requests.length, before + 1);
    return up.requests.at(-1)!;
  }

  test("an untrusted client's X-Real-IP, Forwarded, X-Forwarded-Port and client-IP headers do not reach the upstream", async () => {
    const got = await seen(untrusting, { ...CLAIMS, 'x-forwarded-for': '6.6.6.6' });
    assert.equal(got.headers['x-real-ip'], '127.0.0.1', 'X-Real-IP is the TCP peer, not the claim');
    for (const name of ['forwarded', 'x-forwarded-port', 'true-client-ip', 'cf-connecting-ip', 'x-client-ip']) assert.equal(got.headers[name], undefined, name);
    assert.equal(got.headers['x-forwarded-for'], '6.6.6.6, 127.0.0.1', 'X-Forwarded-For is appended to, as before');
    assert.equal(got.rawHeaders.filter((_, i) => i % 2 === 0 && got.rawHeaders[i]!.toLowerCase() === 'x-real-ip').length, 1, 'one X-Real-IP line');
  });

  test("a trusted proxy's headers pass; X-Real-IP is the client it names in X-Forwarded-For", async () => {
    const got = await seen(trusting, { ...CLAIMS, 'x-forwarded-for': '6.6.6.6, 198.51.100.9' });
    assert.equal(got.headers['x-real-ip'], '198.51.100.9', 'the rightmost untrusted hop, as identity keys it');
    for (const name of ['forwarded', 'x-forwarded-port', 'true-client-ip', 'cf-connecting-ip', 'x-client-ip'] as const) assert.equal(got.headers[name], CLAIMS[name], name);
    assert.equal(got.headers['x-forwarded-for'], '6.6.6.6, 198.51.100.9, 127.0.0.1');
  });

  test('X-Real-IP is the full IPv6 address, not the /64 network the client is keyed by', async () => {
    const got = await seen(trusting, { 'x-forwarded-for': '[2001:db8:1:2::abcd]:4711' });
    assert.equal(got.headers['x-real-ip'], '2001:db8:1:2::abcd');
  });

  test('a trusted proxy sending no X-Forwarded-For is the client itself', async () => {
    const got = await seen(trusting, { 'x-real-ip': '6.6.6.6' });
    assert.equal(got.headers['x-real-ip'], '127.0.0.1');
  });
});
