/**
 * Bad input against real sidecar processes: each gets a clear error or is counted and ignored, and
 * nothing else changes — the upstream is not called for what is refused, the process keeps serving,
 * and client-controlled data never creates state without a bound.
 *
 * Unit-level proofs of the same points (not repeated here): test/unit/sidecar/identity.test.ts (XFF
 * walk, IPv6 /64, JWT verification), test/unit/engine/graphqlCost.test.ts (depth, aliases, fragment
 * cycles and bombs), test/unit/engine/memoryStore.test.ts (maxKeys), test/unit/sidecar/reload.test.ts,
 * test/unit/sidecar/subscriber.test.ts, test/unit/models/codecs.test.ts (event and control codecs).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { Redis } from 'ioredis';
import { controlKeys } from '../../../models/control.js';
import { childEnv, connectRedis, infraEnv, uniqueName } from '../../helpers/infra.js';
import { httpRequest, metricValue, startSidecarProcess, startStubUpstream, waitFor, type SidecarProcess, type StubUpstream } from '../../helpers/proc.js';
import { hs256, mib, rawRequest, rssBytes, unsigned } from './lib.js';

const SECRET = 'e2e-security-jwt-secret-0123456789abcdef';
const MAX_KEYS = 5_000;
const DISTINCT_KEYS = 100_000;

/** Sidecar A: the test client (127.0.0.1) is NOT a trusted proxy. */
const UNTRUSTED = `version: 1
identity:
  trustedProxies: [10.99.0.0/16]
  apiKey: { header: x-api-key }
  jwt: { algorithms: [HS256], secretEnv: RW_E2E_JWT_SECRET, claim: sub, rejectInvalid: true }
store: { kind: memory, maxKeys: ${MAX_KEYS} }
rules:
  - { id: by-ip, match: { path: "/ip/**" }, key: [ip], algorithm: fixed-window, limit: 3, window: 1h }
  - { id: by-key, match: { path: "/key/**" }, key: [apiKey], algorithm: fixed-window, limit: 3, window: 1h }
  - { id: by-user, match: { path: "/user/**" }, key: [user], algorithm: fixed-window, limit: 2, window: 1h }
  - { id: keys, match: { path: "/many/**" }, key: [apiKey], algorithm: token-bucket, rate: 10/s, burst: 10 }
  - { id: login, match: { method: POST, path: /login }, key: [ip], algorithm: fixed-window, limit: 2, window: 1h }
  - id: gql
    match: { path: /graphql }
    key: [ip]
    algorithm: token-bucket
    rate: 100000/s
    burst: 100000
    cost: { graphql: { maxDepth: 6, fieldCost: 1, listFactor: 10, maxCost: 2000 } }
`;

/** Sidecar B: 127.0.0.1 is a trusted proxy; IPv6 clients grouped per /56. */
const TRUSTED = `version: 1
identity: { trustedProxies: [127.0.0.1/32], ipv6Prefix: 56 }
store: { kind: memory }
rules:
  - { id: by-ip, match: { path: "/ip/**" }, key: [ip], algorithm: fixed-window, limit: 3, window: 1h }
`;

let up: StubUpstream;
let a: SidecarProcess;
let b: SidecarProcess;

before(async () => {
  up = await startStubUpstream();
  [a, b] = await Promise.all([
    startSidecarProcess({ policy: UNTRUSTED, upstream: up.url, env: childEnv({ RW_E2E_JWT_SECRET: SECRET }) }),
    startSidecarProcess({ policy: TRUSTED, upstream: up.url, env: childEnv() }),
  ]);
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await up?.close();
});

const port = (sc: SidecarProcess): number => Number(new URL(sc.url).port);
const metrics = async (sc: SidecarProcess): Promise<string> => (await httpRequest(sc.adminUrl + '/metrics')).text;

async function statuses(sc: SidecarProcess, path: string, headers: Array<Record<string, string>>): Promise<number[]> {
  const out: number[] = [];
  for (const h of headers) out.push((await httpRequest(sc.url + path, { headers: h })).status);
  return out;
}

/** Still serving, and the upstream saw nothing since `upstreamBefore`. */
async function unharmed(sc: SidecarProcess, upstreamBefore: number): Promise<void> {
  assert.equal(up.arrived(), upstreamBefore, 'the upstream was called');
  assert.equal((await httpRequest(sc.adminUrl + '/healthz')).status, 200);
  assert.equal((await httpRequest(sc.url + '/ok', { headers: { 'x-api-key': uniqueName('ok') } })).status, 200);
}

describe('malformed and oversized requests', () => {
  test('a malformed header line, a header with a raw CR or NUL, and a broken request line get 400 and never reach the upstream', async () => {
    up.reset();
    const cases = [
      'GET /ip/x HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n',
      'GET /ip/x HTTP/1.1\r\nHost: a\r\nX-Evil: a\rInjected: 1\r\n\r\n',
      'GET /ip/x HTTP/1.1\r\nHost: a\r\nX-Evil: a\u0000b\r\n\r\n',
      'GET /ip/x HTTP/9.9 extra\r\nHost: a\r\n\r\n',
      'GET\r\n\r\n',
    ];
    for (const c of cases) {
      const r = await rawRequest(port(a), Buffer.from(c, 'latin1'));
      assert.equal(r.status, 400, `${JSON.stringify(c)} → ${r.head}`);
    }
    await unharmed(a, 0);
  });

  test('headers over the size limit get 431; one huge API key is not a key at all', async () => {
    const n = up.arrived();
    const huge = await rawRequest(port(a), `GET /key/x HTTP/1.1\r\nHost: a\r\nCookie: ${'c'.repeat(20_000)}\r\n\r\n`);
    assert.equal(huge.status, 431);
    assert.equal(up.arrived(), n);
    // 600 characters: under the header limit but over any real key — treated as no key (the IP's budget)
    const long = 'k'.repeat(600);
    const r = await httpRequest(`${a.url}/key/long`, { headers: { 'x-api-key': long } });
    assert.equal(r.status, 200);
    const echoed = JSON.parse(r.text) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-api-key'], long, 'forwarded unchanged to the upstream');
    await unharmed(a, up.arrived());
  });

  test('an API key with invalid UTF-8 bytes is one stable identity with its own budget', async () => {
    const raw = (n: number): Buffer =>
      Buffer.concat([Buffer.from(`GET /key/${n} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Api-Key: bad-`), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80]), Buffer.from('\r\n\r\n')]);
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await rawRequest(port(a), raw(i))).status);
    assert.deepEqual(got, [200, 200, 200, 429]);
    const other = Buffer.concat([Buffer.from('GET /key/o HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Api-Key: bad-'), Buffer.from([0xff, 0xff]), Buffer.from('\r\n\r\n')]);
    assert.equal((await rawRequest(port(a), other)).status, 200, 'another invalid key has its own budget');
  });
});

describe('100k distinct random API keys', () => {
  /** Sends `count` requests to /many/** from `count` new random API keys; returns how many passed. */
  async function distinctKeys(sc: SidecarProcess, count: number): Promise<number> {
    const agent = new Agent({ connections: 32, pipelining: 4, keepAliveTimeout: 10_000 });
    let next = 0;
    let ok = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < count) {
          const i = next++;
          const r = await request(`${sc.url}/many/${i}`, { dispatcher: agent, headers: { 'x-api-key': `rnd-${i}-${Math.random().toString(36).slice(2)}` } });
          await r.body.dump();
          if (r.statusCode === 200) ok++;
        }
      }),
    );
    await agent.close();
    return ok;
  }

  test(`memory stays bounded: at most store.maxKeys (${MAX_KEYS}) keys held, evictions counted, RSS flat over a second 100k`, { timeout: 120_000 }, async (t) => {
    await distinctKeys(a, 2_000); // warm: the RSS before is not the cold start's
    const rssBefore = rssBytes(a.pid);
    const started = performance.now();
    const ok = await distinctKeys(a, DISTINCT_KEYS);
    const seconds = (performance.now() - started) / 1000;
    const rssAfter = rssBytes(a.pid);
    const text = await metrics(a);
    const keys = metricValue(text, 'ratewarden_store_keys')!;
    const evictions = metricValue(text, 'ratewarden_store_evictions_total')!;
    // a second round of 100k new keys: a bounded process is already at its plateau
    await distinctKeys(a, DISTINCT_KEYS);
    const rssAgain = rssBytes(a.pid);
    const heap = metricValue(await metrics(a), 'ratewarden_sidecar_nodejs_heap_size_used_bytes') ?? NaN;
    const line =
      `100k distinct API keys in ${seconds.toFixed(1)} s: RSS ${mib(rssBefore)} MiB before, ${mib(rssAfter)} MiB after, ${mib(rssAgain)} MiB after another 100k ` +
      `(heap used ${mib(heap)} MiB); store keys ${keys} (maxKeys ${MAX_KEYS}), ${evictions} evictions counted`;
    t.diagnostic(line);
    process.stdout.write(`FIGURE ${line}\n`);
    assert.equal(ok, DISTINCT_KEYS, 'every new key has a full budget');
    assert.ok(keys <= MAX_KEYS, `${keys} keys held`);
    assert.ok(evictions >= DISTINCT_KEYS - MAX_KEYS, `${evictions} evictions`);
    assert.ok(rssAfter - rssBefore < 128 * 1024 * 1024, `RSS grew by ${mib(rssAfter - rssBefore)} MiB over the first 100k`);
    assert.ok(rssAgain - rssAfter < 24 * 1024 * 1024, `RSS grew by ${mib(rssAgain - rssAfter)} MiB over the second 100k`);
  });
});

describe('tokens', () => {
  const now = Math.floor(Date.now() / 1000);
  const bearer = (tok: string): Record<string, string> => ({ authorization: `Bearer ${tok}` });

  test('a forged signature, an unsigned alg:none token, an expired token and garbage each get 401 and are counted by reason', async () => {
    const n = up.arrived();
    const cases: Array<[string, string]> = [
      [hs256({ sub: 'mallory', exp: now + 600 }, 'not-the-secret'), 'signature'],
      [unsigned({ sub: 'mallory', exp: now + 600 }), 'algorithm'],
      [hs256({ sub: 'alice', exp: now - 3_600 }, SECRET), 'expired'],
      ['not.a.jwt', 'malformed'],
    ];
    for (const [tok] of cases) {
      const r = await httpRequest(`${a.url}/user/x`, { headers: bearer(tok) });
      assert.equal(r.status, 401, tok);
      assert.match(String(r.headers['www-authenticate']), /invalid_token/);
      assert.equal(r.json<{ error: string }>().error, 'invalid_token');
    }
    assert.equal(up.arrived(), n);
    const text = await metrics(a);
    for (const [, reason] of cases) assert.ok((metricValue(text, 'ratewarden_invalid_tokens_total', { reason }) ?? 0) >= 1, `no ${reason} counted`);
  });

  test('only a verified token names the user: its budget is per user, not per token', async () => {
    const user = uniqueName('user');
    const got = await statuses(a, '/user/x', [0, 1, 2].map((i) => bearer(hs256({ sub: user, exp: now + 600, jti: `t${i}` }, SECRET))));
    assert.deepEqual(got, [200, 200, 429]);
  });
});

describe('client addresses', () => {
  test('X-Forwarded-For from an untrusted peer is ignored: rotating it does not multiply the budget', async () => {
    // sidecar A already spent nothing on /ip for 127.0.0.1 in this file
    const got = await statuses(a, '/ip/spoof', Array.from({ length: 5 }, (_, i) => ({ 'x-forwarded-for': `203.0.113.${i + 1}` })));
    assert.deepEqual(got, [200, 200, 200, 429, 429]);
  });

  test('behind a trusted proxy, spoofed entries left of the first untrusted hop are not believed', async () => {
    const got = await statuses(b, '/ip/walk', Array.from({ length: 5 }, (_, i) => ({ 'x-forwarded-for': `198.51.100.${i + 1}, 192.0.2.77` })));
    assert.deepEqual(got, [200, 200, 200, 429, 429]);
    assert.equal((await httpRequest(`${b.url}/ip/walk`, { headers: { 'x-forwarded-for': '192.0.2.78' } })).status, 200, 'another client has its own budget');
  });

  test('IPv6 clients rotating addresses inside one /56 share one budget; the next /56 has its own', async () => {
    const inside = ['2001:db8:abcd:1200::1', '2001:db8:abcd:1201::2', '2001:db8:abcd:12ff:ffff::9', '2001:db8:abcd:1234:5678::1', '2001:db8:abcd:12aa::77'];
    assert.deepEqual(await statuses(b, '/ip/v6', inside.map((ip) => ({ 'x-forwarded-for': ip }))), [200, 200, 200, 429, 429]);
    assert.equal((await httpRequest(`${b.url}/ip/v6`, { headers: { 'x-forwarded-for': '2001:db8:abcd:1300::1' } })).status, 200);
  });
});

describe('path spellings', () => {
  test('//login, /./login, /x/../login, /%6Cogin and /%2e%2e/login are the rule for /login, not a way around it (forwarded unchanged)', async () => {
    const post = async (path: string): Promise<number> => (await rawRequest(port(a), `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)).status;
    assert.deepEqual([await post('/login'), await post('/login')], [200, 200]);
    for (const p of ['/login', '//login', '/./login', '/x/../login', '/%6Cogin', '/%2e%2e/login']) assert.equal(await post(p), 429, p);
    // forwarded byte for byte: the upstream judges its own paths
    const n = up.requests.length;
    await rawRequest(port(b), 'GET /ip/%2e/x//y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(up.requests.at(-1)?.url, '/ip/%2e/x//y');
    assert.equal(up.requests.length, n + 1);
  });
});

describe('malicious GraphQL', () => {
  const post = (query: string): Promise<{ status: number; error: string | undefined }> =>
    httpRequest(`${a.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '1.1.1.1' }, body: JSON.stringify({ query }) }).then((r) => ({
      status: r.status,
      error: r.status === 200 ? undefined : r.json<{ error: string }>().error,
    }));

  test('deep nesting, alias flooding beyond maxCost and fragment cycles get 400 bad_request and never reach the upstream', async () => {
    const n = up.arrived();
    const deep = '{ ' + 'a { '.repeat(50) + 'b' + ' }'.repeat(50) + ' }';
    const aliases = '{ ' + Array.from({ length: 5_000 }, (_, i) => `a${i}: me { id }`).join(' ') + ' }';
    const cycle = 'query { ...A } fragment A on Q { x { ...B } } fragment B on Q { y { ...A } }';
    for (const q of [deep, aliases, cycle, '{ unclosed ']) assert.deepEqual(await post(q), { status: 400, error: 'bad_request' }, q.slice(0, 60));
    assert.equal(up.arrived(), n);
    assert.equal((await post('{ me { id name } }')).status, 200, 'a normal query passes');
  });

  test('distinct 16 KB queries (each refused for its cost) leave the memory bounded: a second 400 adds nothing', { timeout: 60_000 }, async (t) => {
    let seq = 0;
    const flood = async (count: number): Promise<number[]> => {
      const agent = new Agent({ connections: 8 });
      const got: number[] = [];
      let sent = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (sent++ < count) {
            const query = `{ f${seq++} ${'a '.repeat(7_900)}}`;
            const r = await request(`${a.url}/graphql`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
            await r.body.dump();
            got.push(r.statusCode);
          }
        }),
      );
      await agent.close();
      return got;
    };
    // the lowest RSS over 2 s after a round: garbage the collector frees by then does not count
    const settledRss = async (): Promise<number> => {
      let low = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 20; i++) {
        low = Math.min(low, rssBytes(a.pid));
        await new Promise((r) => setTimeout(r, 100));
      }
      return low;
    };
    const first = await flood(400);
    const rssAfterFirst = await settledRss();
    const second = await flood(400);
    const grew = (await settledRss()) - rssAfterFirst;
    t.diagnostic(`RSS ${mib(rssAfterFirst)} MiB after 400 queries, ${mib(grew)} MiB more after another 400`);
    assert.ok([...first, ...second].every((s) => s === 400));
    // the parse cache used to keep every document (~1.4 MiB each: +580 MiB for the second 400); what
    // grows now is garbage not yet collected (0–100 MiB, depending on the collector's timing)
    assert.ok(grew < 256 * 1024 * 1024, `RSS grew ${mib(grew)} MiB over the second 400`);
  });

  test('a GraphQL body over 1 MiB gets 413 without being held', async () => {
    const n = up.arrived();
    const r = await httpRequest(`${a.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ a }`, pad: 'x'.repeat(1_100_000) }) });
    assert.equal(r.status, 413);
    assert.equal(up.arrived(), n);
  });
});

describe('client input never reaches logs or response headers raw', () => {
  test('control characters, terminal escapes and JSON in paths and headers leave every log line valid JSON and every answer header ours', async () => {
    const evil = '\u001b[31mred\u001b[0m"}{"msg":"forged';
    // raw control characters in a header value are refused by the HTTP parser
    const raw = await rawRequest(port(a), `GET /ip/x HTTP/1.1\r\nHost: a\r\nUser-Agent: ${evil}\r\nConnection: close\r\n\r\n`);
    assert.equal(raw.status, 400);
    // encoded in the path, and printable JSON-breaking text in headers, they pass as data
    const r = await rawRequest(port(a), `GET /ip/%0d%0aSet-Cookie:%20x=1/${encodeURIComponent(evil)} HTTP/1.1\r\nHost: a\r\nUser-Agent: "}{"msg":"forged\r\nX-Api-Key: "}{"msg":"forged\r\nConnection: close\r\n\r\n`);
    assert.ok([200, 429].includes(r.status), `status ${r.status}`);
    assert.ok(!/^set-cookie:/im.test(r.head), 'a header was injected');
    for (const line of [...a.stdout, ...b.stdout]) {
      if (line.trim() === '') continue;
      assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line.slice(0, 120)}`);
      assert.ok(!line.includes('\u001b'), 'a raw escape character reached the log');
      assert.ok(!line.includes('forged'), 'client text reached the log');
    }
  });
});

describe('control messages and policy reloads (shared Redis, prefix of this test)', () => {
  let redis: Redis;
  let c: SidecarProcess;
  const ctl = controlKeys(uniqueName('sec-ctl'));
  const policyC = (limit: number): string => `version: 1
identity: { trustedProxies: [127.0.0.1/32] }
store: { kind: memory }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: ${limit}, window: 1h }
`;

  before(async () => {
    redis = await connectRedis();
    c = await startSidecarProcess({ policy: policyC(3), upstream: up.url, env: childEnv({ REDIS_URL: infraEnv().REDIS_URL!, RW_CTL_PREFIX: ctl.blocks.replace(/:blocks$/, '') }) });
  });
  after(async () => {
    await c?.stop();
    await redis?.del(ctl.blocks, ctl.overrides, ctl.load, ctl.seq);
    redis?.disconnect();
  });

  test('malformed control messages and stored fields are counted and ignored; a valid block still applies', async () => {
    const bad = ['not json', '{"v":2,"seq":1}', '{"v":1,"seq":"x","kind":"block","field":"ip:1.2.3.4","value":{}}', JSON.stringify({ v: 1, seq: 10, kind: 'nope', field: 'x', value: null }), 'x'.repeat(100_000)];
    for (const m of bad) await redis.publish(ctl.channel, m);
    await redis.hset(ctl.blocks, 'ip:192.0.2.200', '{"until":"soon"}');
    await waitFor(async () => (metricValue(await metrics(c), 'ratewarden_control_bad_messages_total') ?? 0) >= bad.length || null, 'bad messages counted', 5_000);
    assert.equal((await httpRequest(`${c.url}/x`, { headers: { 'x-forwarded-for': '192.0.2.200' } })).status, 200, 'an undecodable stored block is not a block');
    const seq = await redis.incr(ctl.seq);
    const value = { until: Date.now() + 60_000, reason: 'test', seq };
    await redis.hset(ctl.blocks, 'ip:192.0.2.201', JSON.stringify(value));
    await redis.publish(ctl.channel, JSON.stringify({ v: 1, seq, kind: 'block', field: 'ip:192.0.2.201', value }));
    await waitFor(async () => (await httpRequest(`${c.url}/x`, { headers: { 'x-forwarded-for': '192.0.2.201' } })).status === 403 || null, 'the valid block applied', 5_000);
  });

  test('a broken policy file on reload is refused and counted; the running limits stay until a good file arrives', { timeout: 30_000 }, async () => {
    writeFileSync(c.configFile, 'version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: -1, window: 1h }\n  broken: [\n');
    await waitFor(async () => (metricValue(await metrics(c), 'ratewarden_policy_reload_errors_total') ?? 0) >= 1 || null, 'the reload error counted', 15_000, 100);
    assert.ok(c.logs.some((l) => /rules\[0\]|policy/.test(String(l.msg)) && l.level === 'error') || c.logs.some((l) => l.level === 'error'), 'the errors are logged');
    const who = { 'x-forwarded-for': '192.0.2.50' };
    assert.deepEqual(await statuses(c, '/x', [who, who, who, who]), [200, 200, 200, 429], 'the old limit (3) still applies');
    writeFileSync(c.configFile, policyC(5));
    await waitFor(async () => (metricValue(await metrics(c), 'ratewarden_policy_reloads_total') ?? 0) >= 1 || null, 'the good file applied', 15_000, 100);
    assert.equal((await httpRequest(`${c.url}/x`, { headers: { 'x-forwarded-for': '192.0.2.51' } })).headers['x-ratelimit-limit'], '5');
  });
});
