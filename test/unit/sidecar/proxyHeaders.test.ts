import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../../sidecar/proxy/headers.js';
import { failureOf } from '../../../sidecar/proxy/forward.js';
import { safe } from '../../../sidecar/log.js';

function pairs(list: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

test('end-to-end headers pass unchanged, in order and case; hop-by-hop ones stop at the proxy', () => {
  const raw = ['Host', 'api.example.com', 'X-Custom', 'A', 'Connection', 'keep-alive, X-Hop', 'X-Hop', 'secret-hop', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Upgrade', 'h2c', 'X-Custom', 'B', 'Expect', '100-continue', 'Authorization', 'Bearer t'];
  const out = pairs(upstreamRequestHeaders(raw, 'keep-alive, X-Hop', { peer: '203.0.113.7', peerTrusted: false, client: '203.0.113.7', proto: 'http' }));
  assert.deepEqual(out, [
    ['Host', 'api.example.com'],
    ['X-Custom', 'A'],
    ['X-Custom', 'B'],
    ['Authorization', 'Bearer t'],
    ['x-forwarded-for', '203.0.113.7'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'api.example.com'],
    ['x-real-ip', '203.0.113.7'],
  ]);
});

test('a Connection-listed header stops at the proxy whatever its length and case', () => {
  const long = 'X-Internal-Hop-Credential-For-Proxy-A'; // longer than 32 characters
  const raw = ['Host', 'h', 'Connection', long.toLowerCase() + ', X-Short', long, 'secret', 'X-Short', 's', 'X-Long-End-To-End-Header-Name-Kept-As-Is', 'v'];
  const out = pairs(upstreamRequestHeaders(raw, long.toLowerCase() + ', X-Short', { peer: '203.0.113.7', peerTrusted: false, client: '203.0.113.7', proto: 'http' }));
  assert.deepEqual(
    out.map(([n]) => n),
    ['Host', 'X-Long-End-To-End-Header-Name-Kept-As-Is', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip'],
  );
});

test('X-Forwarded-For is appended to; Proto and Host from an untrusted peer are replaced', () => {
  const raw = ['Host', 'h', 'X-Forwarded-For', '1.1.1.1', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil.example'];
  const out = new Map(pairs(upstreamRequestHeaders(raw, undefined, { peer: '203.0.113.7', peerTrusted: false, client: '203.0.113.7', proto: 'http' })));
  assert.equal(out.get('x-forwarded-for'), '1.1.1.1, 203.0.113.7');
  assert.equal(out.get('x-forwarded-proto'), 'http');
  assert.equal(out.get('x-forwarded-host'), 'h');
});

test('X-Forwarded-Proto and -Host from a trusted proxy are kept', () => {
  const raw = ['Host', 'h', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'public.example'];
  const out = new Map(pairs(upstreamRequestHeaders(raw, undefined, { peer: '10.0.0.2', peerTrusted: true, client: '10.0.0.2', proto: 'http' })));
  assert.equal(out.get('x-forwarded-proto'), 'https');
  assert.equal(out.get('x-forwarded-host'), 'public.example');
});

/** Every header besides X-Forwarded-For/-Proto/-Host an upstream app may take the client's address, scheme, port or prefix from, as a client could forge them. */
const CLAIMS: Array<[string, string]> = [
  ['Forwarded', 'for=6.6.6.6;proto=https;host=evil.example'],
  ['X-Forwarded-Port', '443'],
  ['X-Forwarded-Prefix', '/admin'],
  ['X-Forwarded-Ssl', 'on'],
  ['X-Forwarded-Scheme', 'https'],
  ['X-Forwarded', 'for=6.6.6.6'],
  ['Forwarded-For', '6.6.6.6'],
  ['X-Client-IP', '6.6.6.6'],
  ['True-Client-IP', '6.6.6.6'],
  ['CF-Connecting-IP', '6.6.6.6'],
  ['Fastly-Client-IP', '6.6.6.6'],
  ['x-cluster-client-ip', '6.6.6.6'],
];

test('from an untrusted peer, Forwarded, X-Forwarded-Port/-Prefix and client-IP claims are dropped and X-Real-IP is ours', () => {
  const raw = ['Host', 'h', 'X-Real-IP', '6.6.6.6', ...CLAIMS.flat(), 'X-Custom', 'kept', 'X-Real-IP-Note', 'not a claim', 'X-Forwarded-Portal', 'not a claim either'];
  const out = pairs(upstreamRequestHeaders(raw, undefined, { peer: '203.0.113.7', peerTrusted: false, client: '203.0.113.7', proto: 'http' }));
  assert.deepEqual(out, [
    ['Host', 'h'],
    ['X-Custom', 'kept'],
    ['X-Real-IP-Note', 'not a claim'],
    ['X-Forwarded-Portal', 'not a claim either'],
    ['x-forwarded-for', '203.0.113.7'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'h'],
    ['x-real-ip', '203.0.113.7'],
  ]);
  assert.ok(!out.some(([, v]) => v.includes('6.6.6.6')), 'no forged address reaches the upstream');
});

test('from a trusted proxy, Forwarded and the other claims pass unchanged; X-Real-IP is the client identity resolved, never the incoming one', () => {
  const raw = ['Host', 'h', 'X-Real-IP', '10.0.0.9', 'X-Forwarded-For', '6.6.6.6, 198.51.100.9', ...CLAIMS.flat(), 'x-real-ip', '6.6.6.6'];
  const out = pairs(upstreamRequestHeaders(raw, undefined, { peer: '10.0.0.2', peerTrusted: true, client: '198.51.100.9', proto: 'http' }));
  assert.deepEqual(out, [
    ['Host', 'h'],
    ...CLAIMS,
    ['x-forwarded-for', '6.6.6.6, 198.51.100.9, 10.0.0.2'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'h'],
    ['x-real-ip', '198.51.100.9'],
  ]);
});

test('a Connection-listed claim stops at the sidecar even from a trusted proxy', () => {
  const raw = ['Host', 'h', 'Connection', 'forwarded', 'Forwarded', 'for=192.0.2.1', 'X-Forwarded-Port', '8443'];
  const out = new Map(pairs(upstreamRequestHeaders(raw, 'forwarded', { peer: '10.0.0.2', peerTrusted: true, client: '10.0.0.2', proto: 'http' })));
  assert.equal(out.get('Forwarded'), undefined);
  assert.equal(out.get('X-Forwarded-Port'), '8443');
});

test("response headers keep the upstream's own, drop hop-by-hop ones and its rate-limit headers when ours are added", () => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'close, X-Internal', 'X-Internal', '1', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-RateLimit-Limit', '5'].map((s) => Buffer.from(s, 'latin1'));
  const out = pairs(clientResponseHeaders(raw, ['x-ratelimit-limit', '100']));
  assert.deepEqual(out, [
    ['Content-Type', 'text/plain'],
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
    ['x-ratelimit-limit', '100'],
  ]);
  // without ours, the upstream's rate-limit headers pass
  assert.deepEqual(pairs(clientResponseHeaders([Buffer.from('X-RateLimit-Limit'), Buffer.from('5')], [])), [['X-RateLimit-Limit', '5']]);
});

test('upstream failures map to 504 for timeouts and 502 otherwise', () => {
  assert.equal(failureOf(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), 'timeout');
  assert.equal(failureOf(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), 'timeout');
  assert.equal(failureOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'connect');
  assert.equal(failureOf(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'reset');
});

test('client-controlled strings are bounded and stripped of control characters before logging', () => {
  assert.equal(safe('GET /x\n{"level":"error","msg":"forged"}'), 'GET /x\\u000a{"level":"error","msg":"forged"}');
  assert.equal(safe('\u001b[31mred'), '\\u001b[31mred');
  assert.equal(safe('x'.repeat(500)).length, 201);
});
