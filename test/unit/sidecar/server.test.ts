/**
 * The sidecar in-process (startSidecar) with the real engine on its memory store, the in-memory
 * event bus and control plane (as the demo runs it), and a recording stub upstream.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { connect } from 'node:net';
import { request } from 'undici';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { apiKeyId } from '../../../models/clientKey.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { httpRequest, metricValue, patternBytes, startStubUpstream, testAgent, waitFor, type StubUpstream } from '../../helpers/proc.js';

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

function events(bus: MemoryEventBus): CallEvent[] {
  return (bus as unknown as { queue: CallEvent[]; head: number }).queue.slice((bus as unknown as { head: number }).head);
}

const BASE = `
version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: memory }
upstream: { timeout: 300ms }
rules:
  - { id: per-key, match: { path: "/api/**" }, key: [apiKey], algorithm: fixed-window, limit: 3, window: 60s }
  - { id: slow, match: { path: "/queued/**" }, key: [ip], algorithm: leaky-bucket, rate: 5/s, burst: 1, mode: queue, maxDelay: 2s }
`;

describe('sidecar in-process', () => {
  let up: StubUpstream;
  let bus: MemoryEventBus;
  let plane: MemoryControlPlane;
  let sc: RunningSidecar;

  before(async () => {
    up = await startStubUpstream();
    bus = new MemoryEventBus();
    plane = new MemoryControlPlane();
    sc = await startSidecar({
      policy: policy(BASE),
      upstream: up.url,
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      eventSink: bus,
      controlPlane: plane,
      logger: silentLogger(),
      pod: 'pod-1',
      service: 'svc',
      drainSeconds: 5,
    });
  });
  after(async () => {
    await sc.close();
    await up.close();
  });

  test('method, path, query, headers and status pass unchanged, with X-Forwarded-* added', async () => {
    up.reset();
    const r = await httpRequest(sc.address + '/status/201?x=1&y=%20z', { method: 'PUT', headers: { 'x-custom': 'v', 'content-type': 'text/strange;;', 'x-api-key': 'k-pass' }, body: 'payload' });
    assert.equal(r.status, 201);
    const seen = up.requests[0]!;
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.url, '/status/201?x=1&y=%20z');
    assert.equal(seen.headers['x-custom'], 'v');
    assert.equal(seen.headers['content-type'], 'text/strange;;');
    assert.equal(seen.headers['x-api-key'], 'k-pass');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.bodyBytes, 7);
    assert.equal(seen.headers.host, new URL(sc.address).host);
  });

  test('a limit answers exactly `limit` requests and 429s the rest, with the headers and body of the contract', async () => {
    up.reset();
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 5; i++) {
      last = await httpRequest(sc.address + '/api/items', { headers: { 'x-api-key': 'key-limit' } });
      statuses.push(last.status);
      assert.equal(last.headers['x-ratelimit-limit'], '3');
      assert.match(String(last.headers['ratelimit-policy']), /^"per-key";q=3;w=60$/);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(up.requests.filter((r) => r.url === '/api/items').length, 3);
    assert.equal(last!.headers['content-type'], 'application/problem+json');
    assert.equal(last!.headers['x-ratelimit-remaining'], '0');
    const retryAfter = Number(last!.headers['retry-after']);
    const t = Number(/t=(\d+)/.exec(String(last!.headers['ratelimit']))![1]);
    assert.ok(retryAfter >= 1 && retryAfter >= t);
    const body = last!.json<Record<string, unknown>>();
    assert.equal(body.error, 'rate_limited');
    assert.equal(body.rule, 'per-key');
    assert.equal(body.limit, 3);
    assert.equal(body.retryAfter, retryAfter);
  });

  test('methods fastify does not know (WebDAV, PURGE) are limited, forwarded unchanged and give one event each', async () => {
    up.reset();
    const before = bus.published;
    const statuses: number[] = [];
    for (const method of ['PROPFIND', 'PURGE', 'MKCOL', 'REPORT']) statuses.push((await httpRequest(sc.address + '/api/dav', { method, headers: { 'x-api-key': 'key-methods' } })).status);
    // the per-key limit of 3 counts them like any other request
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.deepEqual(
      up.requests.filter((r) => r.url === '/api/dav').map((r) => r.method),
      ['PROPFIND', 'PURGE', 'MKCOL'],
    );
    assert.equal(bus.published - before, 4);
    assert.deepEqual(
      events(bus)
        .slice(-4)
        .map((e) => [e.method, e.decision]),
      [
        ['PROPFIND', 'allowed'],
        ['PURGE', 'allowed'],
        ['MKCOL', 'allowed'],
        ['REPORT', 'limited'],
      ],
    );
  });

  test('every request produces exactly one event, API keys only as their id', async () => {
    const before = bus.published;
    for (let i = 0; i < 4; i++) await httpRequest(sc.address + '/api/events', { headers: { 'x-api-key': 'key-events-secret', 'user-agent': 'ua-test' } });
    assert.equal(bus.published - before, 4);
    const mine = events(bus).slice(-4);
    assert.deepEqual(
      mine.map((e) => e.decision),
      ['allowed', 'allowed', 'allowed', 'limited'],
    );
    const e = mine[0]!;
    assert.equal(e.client, `apiKey:${apiKeyId('key-events-secret', undefined)}`);
    assert.equal(e.route, '/api/events');
    assert.equal(e.pod, 'pod-1');
    assert.equal(e.service, 'svc');
    assert.equal(e.tier, 'free');
    assert.equal(e.rule, 'per-key');
    assert.equal(e.uaHash, createHash('sha256').update('ua-test').digest('hex').slice(0, 16));
    assert.ok(e.bytesOut > 0 && e.latencyMs > 0);
    assert.equal(mine[3]!.status, 429);
    assert.ok(!JSON.stringify(mine).includes('key-events-secret'));
  });

  test('a block from the control plane answers 403 with the abnormal-usage body; unblocking lets the client through', async () => {
    const until = Date.now() + 60_000;
    await plane.write('block', `apiKey:${apiKeyId('key-blocked', undefined)}`, { until, reason: 'test block' });
    await waitFor(() => sc.control.block([`apiKey:${apiKeyId('key-blocked', undefined)}`], Date.now()), 'block applied', 2_000, 1);
    const r = await httpRequest(sc.address + '/other', { headers: { 'x-api-key': 'key-blocked' } });
    assert.equal(r.status, 403);
    assert.ok(Number(r.headers['retry-after']) >= 59);
    const body = r.json<Record<string, unknown>>();
    assert.equal(body.error, 'blocked');
    assert.equal(body.reason, 'test block');
    assert.equal(body.until, until);
    await plane.write('block', `apiKey:${apiKeyId('key-blocked', undefined)}`, null);
    await waitFor(async () => (await httpRequest(sc.address + '/other', { headers: { 'x-api-key': 'key-blocked' } })).status === 200, 'unblocked', 2_000);
  });

  test('an override changes the limit live', async () => {
    await plane.write('override', `per-key|apiKey:${apiKeyId('key-override', undefined)}`, { limit: 1, until: Date.now() + 60_000, reason: 'tighten' });
    await waitFor(() => sc.control.override('per-key', [`apiKey:${apiKeyId('key-override', undefined)}`], Date.now()), 'override applied', 2_000, 1);
    const a = await httpRequest(sc.address + '/api/o', { headers: { 'x-api-key': 'key-override' } });
    const b = await httpRequest(sc.address + '/api/o', { headers: { 'x-api-key': 'key-override' } });
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-ratelimit-limit'], '1');
    assert.equal(b.status, 429);
  });

  test('queued requests are delayed, not rejected', async () => {
    const t0 = performance.now();
    const answers = await Promise.all([0, 1, 2].map(() => httpRequest(sc.address + '/queued/job')));
    const elapsed = performance.now() - t0;
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200]);
    assert.ok(elapsed >= 300, `three requests at 5/s with burst 1 took only ${elapsed.toFixed(0)} ms`);
    assert.ok(events(bus).some((e) => e.decision === 'queued'));
  });

  test('an upstream that does not answer in time gives 504 problem+json', async () => {
    const r = await httpRequest(sc.address + '/hang');
    assert.equal(r.status, 504);
    assert.equal(r.headers['content-type'], 'application/problem+json');
    assert.equal(r.json<Record<string, unknown>>().error, 'upstream_timeout');
  });

  test('10 MB up and down pass through intact', async () => {
    const size = 10 * 1024 * 1024;
    // integrity both ways here; that nothing is held whole is proven in test/e2e/sidecar/streaming.test.ts
    const res = await request(sc.address + '/bytes/' + size, { dispatcher: testAgent });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(size));
    let got = 0;
    const hash = createHash('sha256');
    for await (const chunk of res.body) {
      got += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    assert.equal(got, size);
    assert.equal(hash.digest('hex'), createHash('sha256').update(patternBytes(0, size)).digest('hex'));
    // upload: streamed request body, checked by the upstream's hash
    up.reset();
    const chunks = Readable.from(
      (function* () {
        for (let off = 0; off < size; off += 256 * 1024) yield patternBytes(off, Math.min(256 * 1024, size - off));
      })(),
    );
    const upRes = await request(sc.address + '/upload', { method: 'POST', body: chunks, dispatcher: testAgent });
    const echoed = (await upRes.body.json()) as { bodyBytes: number; bodySha256: string };
    assert.equal(echoed.bodyBytes, size);
    assert.equal(echoed.bodySha256, createHash('sha256').update(patternBytes(0, size)).digest('hex'));
    assert.equal(up.requests.at(-1)!.headers['transfer-encoding'], 'chunked');
  });

  test('the admin listener serves /healthz, /readyz and /metrics with the contract names', async () => {
    assert.equal((await httpRequest(sc.adminAddress + '/healthz')).status, 200);
    const ready = await httpRequest(sc.adminAddress + '/readyz');
    assert.equal(ready.status, 200);
    const text = (await httpRequest(sc.adminAddress + '/metrics')).text;
    for (const name of ['requests_total', 'decision_seconds', 'upstream_seconds', 'store_errors_total', 'events_buffered', 'events_sent_total', 'events_dropped_total', 'control_seq', 'control_apply_seconds']) {
      assert.match(text, new RegExp(`^# TYPE ratewarden_${name} `, 'm'), name);
    }
    assert.ok(metricValue(text, 'ratewarden_requests_total', { rule: 'per-key', decision: 'limited' })! >= 2);
    assert.equal(metricValue(text, 'ratewarden_store_healthy'), 1);
    assert.equal(metricValue(text, 'ratewarden_inflight_requests'), 0);
    assert.ok(metricValue(text, 'ratewarden_decision_seconds_count')! >= 10);
    assert.equal(metricValue(text, 'ratewarden_decision_seconds_bucket', { le: '+Inf' }), metricValue(text, 'ratewarden_decision_seconds_count'));
    assert.ok(!text.includes('key-limit') && !text.includes('key-events-secret'));
    // the injected in-process bus is metered like Kafka: every event handed over is counted
    assert.ok(bus.published > 0);
    assert.equal(metricValue(text, 'ratewarden_events_sent_total'), bus.published);
    assert.equal(metricValue(text, 'ratewarden_events_dropped_total'), 0);
  });

  test('a new policy applies to the next request', async () => {
    await sc.applyPolicy(policy(BASE.replace('limit: 3', 'limit: 50')));
    const r = await httpRequest(sc.address + '/api/after-reload', { headers: { 'x-api-key': 'key-reload' } });
    assert.equal(r.headers['x-ratelimit-limit'], '50');
    await sc.applyPolicy(policy(BASE));
  });
});

/** One raw HTTP/1.1 exchange (paths a client library would normalise or refuse). */
async function rawRequest(port: number, target: string): Promise<string> {
  const s = connect(port, '127.0.0.1');
  s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out.split('\r\n')[0]!));
  });
}

describe('sidecar edges', () => {
  test('odd but valid paths reach the upstream byte for byte; a non-path target is 400; each is one event', async () => {
    const up = await startStubUpstream();
    const bus = new MemoryEventBus();
    const sc = await startSidecar({ policy: policy('version: 1\nrules: []\n'), upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: bus, logger: silentLogger() });
    try {
      for (const target of ['/%zz', '/a%2F..%2Fb?q=%00', '//double//slash', '/' + 'x'.repeat(4000)]) {
        assert.equal(await rawRequest(sc.port, target), 'HTTP/1.1 200 OK');
        assert.equal(up.requests.at(-1)!.url, target);
      }
      assert.equal(await rawRequest(sc.port, '*'), 'HTTP/1.1 400 Bad Request');
      assert.equal(bus.published, 5);
    } finally {
      await sc.close();
      await up.close();
    }
  });

  test('an unreachable upstream gives 502 problem+json and the event records it', async () => {
    const bus = new MemoryEventBus();
    const sc = await startSidecar({ policy: policy(BASE), upstream: 'http://127.0.0.1:1', listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: bus, logger: silentLogger() });
    try {
      const r = await httpRequest(sc.address + '/api/x', { headers: { 'x-api-key': 'k' } });
      assert.equal(r.status, 502);
      assert.equal(r.json<Record<string, unknown>>().error, 'upstream_unavailable');
      assert.equal(r.headers['x-ratelimit-limit'], '3');
      assert.equal(events(bus)[0]!.status, 502);
    } finally {
      await sc.close();
    }
  });

  test('Expect: 100-continue is answered only for admitted requests; a limited one never uploads its body', async () => {
    const up = await startStubUpstream();
    const sc = await startSidecar({
      policy: policy('version: 1\nstore: { kind: memory }\nrules:\n  - { id: up, key: [ip], algorithm: fixed-window, limit: 1, window: 1h }\n'),
      upstream: up.url,
      listen: { host: '127.0.0.1', port: 0 },
      admin: null,
      logger: silentLogger(),
    });
    const exchange = async (): Promise<{ interim: boolean; status: string; closed: boolean }> => {
      const s = connect(sc.port, '127.0.0.1');
      s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      let buf = '';
      let interim = false;
      return new Promise((resolve) => {
        s.on('data', (d) => {
          buf += d;
          if (!interim && buf.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
            interim = true;
            buf = buf.slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
            s.write('hello');
          }
          if (/^HTTP\/1\.1 [2-5]\d\d/.test(buf) && buf.includes('\r\n\r\n')) {
            const status = buf.split('\r\n')[0]!;
            s.end();
            resolve({ interim, status, closed: /connection: close/i.test(buf) });
          }
        });
      });
    };
    try {
      const first = await exchange();
      assert.deepEqual([first.interim, first.status], [true, 'HTTP/1.1 200 OK']);
      assert.equal(up.requests.at(-1)!.bodyBytes, 5);
      const second = await exchange();
      assert.deepEqual([second.interim, second.status, second.closed], [false, 'HTTP/1.1 429 Too Many Requests', true]);
      assert.equal(up.requests.length, 1);
    } finally {
      await sc.close();
      await up.close();
    }
  });

  test('with rejectInvalid a bad token is answered 401; without it the caller is anonymous', async () => {
    const up = await startStubUpstream();
    const yaml = (reject: boolean) => `
version: 1
identity: { jwt: { algorithms: [HS256], secretEnv: RW_T_SECRET, rejectInvalid: ${reject} } }
store: { kind: memory }
rules:
  - { id: u, key: [user], algorithm: fixed-window, limit: 100, window: 60s }
`;
    const env = { RW_T_SECRET: 'x'.repeat(32) };
    for (const reject of [true, false]) {
      const sc = await startSidecar({ policy: policy(yaml(reject)), upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, env, logger: silentLogger() });
      try {
        const r = await httpRequest(sc.address + '/', { headers: { authorization: 'Bearer not.a.token' } });
        assert.equal(r.status, reject ? 401 : 200);
        if (reject) assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"');
        const text = await sc.metrics.registry.metrics();
        assert.equal(metricValue(text, 'ratewarden_invalid_tokens_total', { reason: 'malformed' }), 1);
      } finally {
        await sc.close();
      }
    }
    await up.close();
  });

  test('store.kind redis without a Redis connection is a clear start-up error', async () => {
    await assert.rejects(
      startSidecar({ policy: policy(BASE.replace('kind: memory', 'kind: redis')), upstream: 'http://127.0.0.1:1', listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger() }),
      (err: Error & { code?: string }) => err.code === 'RW_CONFIG_STORE',
    );
  });

  test('close() drains: a request in flight completes, then the listener is gone', async () => {
    const up = await startStubUpstream();
    const bus = new MemoryEventBus();
    const sc = await startSidecar({ policy: policy(BASE), upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: bus, logger: silentLogger(), drainSeconds: 5 });
    const slow = httpRequest(sc.address + '/delay/400');
    await waitFor(() => up.arrived() === 1, 'request in flight', 2_000, 5);
    const closing = sc.close();
    const r = await slow;
    assert.equal(r.status, 200);
    await closing;
    assert.equal(bus.published, 1);
    await assert.rejects(httpRequest(sc.address + '/', { timeoutMs: 1_000 }));
    await up.close();
  });
});

describe('sidecar GraphQL bodies', () => {
  const GQL = `
version: 1
store: { kind: memory }
rules:
  - { id: gql, match: { path: /graphql }, key: [ip], algorithm: token-bucket, rate: 1/h, burst: 100, cost: { graphql: { maxDepth: 5, maxCost: 50 } } }
`;
  let up: StubUpstream;
  let sc: RunningSidecar;

  before(async () => {
    up = await startStubUpstream();
    sc = await startSidecar({ policy: policy(GQL), upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: new MemoryEventBus(), logger: silentLogger() });
  });
  after(async () => {
    await sc.close();
    await up.close();
  });

  const post = (body: string | Buffer, type = 'application/json') => httpRequest(sc.address + '/graphql', { method: 'POST', headers: { 'content-type': type }, body });

  test('a batch of costly operations is refused like each of them, not charged 1 unit', async () => {
    const n = up.arrived();
    const q = '{ users(first: 1000) { friends(first: 1000) { name } } }';
    const r = await post(JSON.stringify(Array.from({ length: 50 }, () => ({ query: q }))));
    assert.equal(r.status, 400);
    assert.match(r.json<{ detail: string }>().detail, /GraphQL batch element 0: GraphQL query cost 1001001 exceeds the maximum of 50/);
    assert.equal(up.arrived(), n);
  });

  test('a batch of cheap operations is charged their sum, and one over 100 operations is refused', async () => {
    const r = await post(JSON.stringify(Array.from({ length: 10 }, () => ({ query: '{ me { name email } }' }))));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ratelimit-remaining'], String(100 - 10 * 3));
    const many = await post(JSON.stringify(Array.from({ length: 101 }, () => ({ query: '{ a }' }))));
    assert.equal(many.status, 400);
    assert.match(many.json<{ detail: string }>().detail, /batch of 101 operations exceeds the maximum of 100/);
    const holey = await post(JSON.stringify([{ query: '{ a }' }, { variables: {} }]));
    assert.equal(holey.status, 400);
    assert.match(holey.json<{ detail: string }>().detail, /element 1 has no query/);
  });

  test('a JSON body sent as application/graphql-response+json is priced as JSON, not refused as a raw query', async () => {
    const r = await post(JSON.stringify({ query: '{ me { name } }' }), 'application/graphql-response+json; charset=utf-8');
    assert.equal(r.status, 200);
  });

  test('a body over 1 MiB is answered 413 with status 413 in its problem body', async () => {
    const r = await post(JSON.stringify({ query: '{ a }', pad: 'x'.repeat(1_100_000) }));
    assert.equal(r.status, 413);
    const body = r.json<{ status: number; error: string }>();
    assert.equal(body.status, 413);
    assert.equal(body.error, 'payload_too_large');
  });
});

describe('sidecar answer failures', () => {
  test('a verdict no answer can be built from is that request’s 503, not an unhandled rejection that ends the process', async () => {
    const up = await startStubUpstream();
    let poisoned = true;
    const sc = await startSidecar({
      policy: policy(BASE),
      upstream: up.url,
      listen: { host: '127.0.0.1', port: 0 },
      admin: null,
      eventSink: new MemoryEventBus(),
      logger: silentLogger(),
      engineFactory: async (opts) => {
        const { createEngine } = await import('../../../sidecar/engine/index.js');
        const real = createEngine(opts);
        // the first verdict throws while its headers are written (as a block `until` past the last Date did while formatted)
        const decide: typeof real.decide = async (f) => {
          const v = await real.decide(f);
          if (!poisoned) return v;
          poisoned = false;
          return { ...v, get headline(): never { throw new RangeError('Invalid time value'); } };
        };
        return Object.assign(Object.create(real) as typeof real, { decide });
      },
    });
    const rejections: unknown[] = [];
    const onRejection = (err: unknown): void => void rejections.push(err);
    process.on('unhandledRejection', onRejection);
    try {
      const r = await httpRequest(sc.address + '/api/x', { headers: { 'x-api-key': 'k-poison' }, timeoutMs: 5_000 });
      assert.equal(r.status, 503);
      assert.equal(r.json<{ detail: string }>().detail, 'internal error');
      assert.equal((await httpRequest(sc.address + '/api/x', { headers: { 'x-api-key': 'k-poison' } })).status, 200);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(rejections, []);
    } finally {
      process.off('unhandledRejection', onRejection);
      await sc.close();
      await up.close();
    }
  });
});
