/**
 * A real `ratewarden sidecar` process on the test Redis whose upstream is down: 502s are the
 * upstream's fault, so requests far beyond the limit all get 502 and cost the client nothing — once
 * the upstream is back, the client has its whole budget (DESIGN.md: "Upstream unreachable … never
 * counted against the client").
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { childEnv, connectRedis, redisUrl, uniqueName } from '../../helpers/infra.js';
import { freePort, httpRequest, startSidecarProcess, startStubUpstream, type SidecarProcess, type StubUpstream } from '../../helpers/proc.js';

const tag = uniqueName('e2e-updown');
const POLICY = `
version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: redis, failMode: closed, keyPrefix: "${tag}:", timeout: 2s }
upstream: { timeout: 500ms }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 3, window: 1h }
  - { id: burst, key: [apiKey], algorithm: token-bucket, rate: 1/h, burst: 4 }
  - { id: log, key: [apiKey], algorithm: sliding-window-log, limit: 5, window: 1h }
`;

let redis: Redis;
let sc: SidecarProcess;
let up: StubUpstream | null = null;
let upstreamPort: number;

before(async () => {
  redis = await connectRedis();
  upstreamPort = await freePort(); // nothing listens there yet
  sc = await startSidecarProcess({ policy: POLICY, upstream: `http://127.0.0.1:${upstreamPort}`, env: childEnv({ REDIS_URL: redisUrl(), RW_CTL_PREFIX: `${tag}:ctl` }) });
});

after(async () => {
  await sc?.stop();
  await up?.close();
  const keys = await redis.keys(`*${tag}*`);
  if (keys.length) await redis.del(...keys);
  redis?.disconnect();
});

test('requests beyond the limit all get 502 while the upstream is down, and the client keeps its whole budget', async () => {
  const headers = { 'x-api-key': 'updown-key' };
  for (let i = 0; i < 10; i++) {
    const r = await httpRequest(sc.url + `/down/${i}`, { headers });
    assert.equal(r.status, 502, `request ${i}`);
    assert.equal(r.headers['content-type'], 'application/problem+json');
  }
  up = await startStubUpstream({ port: upstreamPort });
  const statuses: number[] = [];
  const remaining: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await httpRequest(sc.url + `/up/${i}`, { headers });
    statuses.push(r.status);
    remaining.push(String(r.headers['x-ratelimit-remaining']));
  }
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  assert.deepEqual(remaining, ['2', '1', '0', '0']);
  assert.equal(up.requests.length, 3);
});
