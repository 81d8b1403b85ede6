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
  const out = pairs(upstreamRequestHeaders(raw, 'keep-alive, X-Hop', { peer: '203.0.113.7', peerTrusted: false, proto: 'http' }));
  assert.deepEqual(out, [
    ['Host', 'api.example.com'],
    ['X-Custom', 'A'],
    ['X-Custom', 'B'],
    ['Authorization', 'Bearer t'],
    ['x-forwarded-for', '203.0.113.7'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'api.example.com'],
  ]);
});

test('a Connection-listed header stops at the proxy whatever its length and case', () => {
  const long = 'X-Internal-Hop-Credential-For-Proxy-A'; // longer than 32 characters
  const raw = ['Host', 'h', 'Connection', long.toLowerCase() + ', X-Short', long, 'secret', 'X-Short', 's', 'X-Long-End-To-End-Header-Name-Kept-As-Is', 'v'];
  const out = pairs(upstreamRequestHeaders(raw, long.toLowerCase() + ', X-Short', { peer: '203.0.113.7', peerTrusted: false, proto: 'http' }));
  assert.deepEqual(
    out.map(([n]) => n),
    ['Host', 'X-Long-End-To-End-Header-Name-Kept-As-Is', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'],
  );
});

test('X-Forwarded-For is appended to; Proto and Host from an untrusted peer are replaced', () => {
  const raw = ['Host', 'h', 'X-Forwarded-For', '1.1.1.1', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil.example'];
  const out = new Map(pairs(upstreamRequestHeaders(raw, undefined, { peer: '203.0.113.7', peerTrusted: false, proto: 'http' })));
  assert.equal(out.get('x-forwarded-for'), '1.1.1.1, 203.0.113.7');
  assert.equal(out.get('x-forwarded-proto'), 'http');
  assert.equal(out.get('x-forwarded-host'), 'h');
});

test('X-Forwarded-Proto and -Host from a trusted proxy are kept', () => {
  const raw = ['Host', 'h', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'public.example'];
  const out = new Map(pairs(upstreamRequestHeaders(raw, undefined, { peer: '10.0.0.2', peerTrusted: true, proto: 'http' })));
  assert.equal(out.get('x-forwarded-proto'), 'https');
  assert.equal(out.get('x-forwarded-host'), 'public.example');
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
