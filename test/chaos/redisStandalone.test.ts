/**
 * Redis stopped under load, on a PRIVATE redis-server (never the shared one): a real sidecar process
 * with `store.kind: redis` serves steady traffic while Redis is paused (SIGSTOP: connections stay
 * open, nothing answers) or killed (SIGKILL, then restarted empty on the same port).
 *
 * - failMode open: no client request fails; the local fallback (limit / store.replicas) is in force
 *   within about one store timeout (100 ms) and no request stalls for seconds; once Redis answers
 *   again, decisions come from Redis (the full limit in X-RateLimit-Limit) within 2 s, and counting
 *   is exact again (a fresh key admits exactly its limit).
 * - failMode closed: 503 `store_unavailable` with Retry-After while Redis is away, 200 again
 *   within 2 s of its return.
 *
 * Which store decided is visible from outside: Redis answers carry the rule's full limit, fallback
 * answers limit / replicas.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { controlKeys } from '../../models/control.js';
import { RedisControlPlane } from '../../models/controlPlane.js';
import { childEnv, uniqueName } from '../helpers/infra.js';
import { httpRequest, metricValue, startSidecarProcess, startStubUpstream, waitFor, type SidecarProcess, type StubUpstream } from '../helpers/proc.js';
import { figure, percentile, startLoad, thousands, type Load, type Sample } from './lib/load.js';
import { sleep, startPrivateRedis, type PrivateRedis } from './lib/privateRedis.js';

const FULL = 1_000_000;
const REPLICAS = 4;
const LOCAL = FULL / REPLICAS;
const EXACT = 20;

function policy(failMode: 'open' | 'closed'): string {
  return `version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: redis, failMode: ${failMode}, timeout: 100ms, replicas: ${REPLICAS}, keyPrefix: ${uniqueName('chaos-redis')} }
rules:
  - { id: exact, match: { path: "/exact/**" }, key: [apiKey], algorithm: fixed-window, limit: ${EXACT}, window: 1h }
  - { id: load, match: { path: "/load/**" }, key: [apiKey], algorithm: fixed-window, limit: ${FULL}, window: 1h }
`;
}

let redis: PrivateRedis;
let up: StubUpstream;
const ctlPrefix = uniqueName('chaos-redis-ctl');
let open: SidecarProcess;
let closed: SidecarProcess;

before(async () => {
  redis = await startPrivateRedis();
  up = await startStubUpstream();
  const env = childEnv({ REDIS_URL: redis.url, RW_CTL_PREFIX: ctlPrefix });
  [open, closed] = await Promise.all([startSidecarProcess({ policy: policy('open'), upstream: up.url, env }), startSidecarProcess({ policy: policy('closed'), upstream: up.url, env })]);
});

after(async () => {
  redis?.resume();
  await Promise.all([open?.stop(), closed?.stop()]);
  await up?.close();
  await redis?.stop();
});

function load(sc: SidecarProcess): Load {
  return startLoad({ url: sc.url, workers: 12, pauseMs: 5, headers: (w) => ({ 'x-api-key': `chaos-load-${w}` }) });
}

/** Which store decided: 'redis' (full limit), 'local' (fallback), or the status when not a 200. */
function source(s: Sample): string {
  if (s.status !== 200) return String(s.status);
  return s.limit === FULL ? 'redis' : s.limit === LOCAL ? 'local' : `limit ${s.limit}`;
}

/** Time from `t0` until the answers settle on `want` for good (every later sample matches). */
function settledAfter(samples: readonly Sample[], t0: number, want: (s: Sample) => boolean): number | null {
  const later = samples.filter((s) => s.at >= t0).sort((a, b) => a.at - b.at);
  let firstOfRun: Sample | null = null;
  for (const s of later) {
    if (want(s)) firstOfRun ??= s;
    else firstOfRun = null;
  }
  return firstOfRun === null ? null : firstOfRun.at + firstOfRun.ms - t0;
}

/** A fresh key on the exact rule admits exactly its limit (the count is in Redis again). */
async function assertExact(sc: SidecarProcess): Promise<void> {
  const key = uniqueName('exact');
  const statuses: number[] = [];
  const limits: string[] = [];
  for (let i = 0; i < EXACT + 5; i++) {
    const r = await httpRequest(`${sc.url}/exact/${i}`, { headers: { 'x-api-key': key } });
    statuses.push(r.status);
    limits.push(String(r.headers['x-ratelimit-limit']));
  }
  assert.equal(statuses.filter((s) => s === 200).length, EXACT, `statuses ${statuses.join(',')}`);
  assert.ok(limits.every((l) => l === String(EXACT)), `limits ${limits.join(',')}`);
}

async function storeErrors(sc: SidecarProcess): Promise<number> {
  return metricValue((await httpRequest(sc.adminUrl + '/metrics')).text, 'ratewarden_store_errors_total') ?? 0;
}

describe('failMode open', () => {
  for (const fault of ['SIGSTOP', 'SIGKILL'] as const) {
    test(`Redis ${fault} for 5 s under load: zero failed requests, local limits within one timeout, exact again within 2 s of its return`, { timeout: 90_000 }, async (t) => {
      await assertExact(open);
      const errorsBefore = await storeErrors(open);
      const l = load(open);
      await sleep(1_500);
      const downAt = performance.now();
      if (fault === 'SIGSTOP') redis.pause();
      else await redis.kill();
      await sleep(5_000);
      if (fault === 'SIGSTOP') redis.resume();
      else await redis.start(); // resolves once the new process answers PING
      const backAt = performance.now();
      await sleep(4_000);
      await l.stop();

      const all = l.samples;
      const failed = all.filter((s) => s.status !== 200);
      const during = all.filter((s) => s.at >= downAt && s.at < backAt);
      const fallbackAt = settledAfter(all.filter((s) => s.at + s.ms < backAt), downAt, (s) => source(s) === 'local');
      const exactAt = settledAfter(all, backAt, (s) => source(s) === 'redis');
      const maxMs = Math.max(...during.map((s) => s.ms));
      figure(
        `Redis ${fault}, failMode open: ${failed.length + l.errors.length}/${thousands(all.length + l.errors.length)} failed, ` +
          `fallback in force after ${fallbackAt?.toFixed(0)} ms (p99 ${percentile(during.map((s) => s.ms), 0.99).toFixed(1)} ms, max ${maxMs.toFixed(0)} ms while down), ` +
          `exact again ${((exactAt ?? NaN) / 1000).toFixed(2)} s after ${fault === 'SIGSTOP' ? 'SIGCONT' : 'restart'}; ${thousands((await storeErrors(open)) - errorsBefore)} store errors counted`,
      );
      t.diagnostic(`sources while down: ${JSON.stringify(count(during.map(source)))}`);

      assert.deepEqual(l.errors.slice(0, 3), [], 'transport errors');
      assert.equal(failed.length, 0, `failed answers: ${JSON.stringify(count(failed.map((s) => s.status)))}`);
      assert.ok(during.length > 200, `only ${during.length} requests while Redis was down`);
      assert.ok(fallbackAt !== null && fallbackAt < 400, `local limits in force after ${fallbackAt} ms`);
      assert.ok(maxMs < 1_000, `a request took ${maxMs.toFixed(0)} ms while Redis was down`);
      assert.ok(exactAt !== null && exactAt < 2_000, `decisions from Redis again after ${exactAt} ms`);
      await assertExact(open);
    });
  }
});

describe('failMode closed', () => {
  test('Redis SIGSTOP for 3 s: 503 store_unavailable with Retry-After, 200 again within 2 s of SIGCONT', { timeout: 60_000 }, async () => {
    const l = load(closed);
    await sleep(1_000);
    const downAt = performance.now();
    redis.pause();
    await sleep(3_000);
    const backAt = performance.now();
    redis.resume();
    await sleep(3_000);
    await l.stop();

    const during = l.samples.filter((s) => s.at >= downAt + 300 && s.at + s.ms < backAt);
    const unavailable = during.filter((s) => s.status === 503);
    const okAgainAt = settledAfter(l.samples, backAt, (s) => s.status === 200 && s.limit === FULL);
    const maxMs = Math.max(...l.samples.filter((s) => s.at >= downAt && s.at < backAt).map((s) => s.ms));
    figure(
      `Redis SIGSTOP, failMode closed: ${unavailable.length}/${thousands(during.length)} answered 503 + Retry-After while down (max latency ${maxMs.toFixed(0)} ms), ` +
        `200 again ${((okAgainAt ?? NaN) / 1000).toFixed(2)} s after SIGCONT; ${l.errors.length} transport errors`,
    );
    assert.deepEqual(l.errors.slice(0, 3), []);
    assert.ok(during.length > 100);
    assert.equal(unavailable.length, during.length, `answers while down: ${JSON.stringify(count(during.map((s) => s.status)))}`);
    assert.ok(unavailable.every((s) => s.retryAfter !== undefined && Number(s.retryAfter) >= 1), 'every 503 carries Retry-After');
    assert.ok(maxMs < 1_000, `a request took ${maxMs.toFixed(0)} ms`);
    assert.ok(okAgainAt !== null && okAgainAt < 2_000, `200 again after ${okAgainAt} ms`);
    const body = (await httpRequest(`${closed.url}/exact/x`, { headers: { 'x-api-key': uniqueName('k') } })).status;
    assert.equal(body, 200);
  });

  test('a 503 while Redis is away is the store_unavailable problem', { timeout: 30_000 }, async () => {
    redis.pause();
    try {
      // the first call waits for its timeout; later ones hit the open breaker
      let r = await httpRequest(`${closed.url}/load/x`, { headers: { 'x-api-key': 'k' } });
      r = await httpRequest(`${closed.url}/load/x`, { headers: { 'x-api-key': 'k' } });
      assert.equal(r.status, 503);
      assert.match(String(r.headers['content-type']), /application\/problem\+json/);
      assert.equal(r.json<{ error: string }>().error, 'store_unavailable');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    } finally {
      redis.resume();
    }
  });
});

describe('control plane across a Redis restart', () => {
  test('Redis restarted empty: a client unblocked before can be blocked again, and the block applies at once', { timeout: 60_000 }, async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined); // refused while Redis restarts
    const plane = new RedisControlPlane(client, controlKeys(ctlPrefix));
    const who = { 'x-api-key': uniqueName('ctl') };
    const field = `apiKey:${(await import('../../models/clientKey.js')).apiKeyId(who['x-api-key'], undefined)}`;
    const status = async (): Promise<number> => (await httpRequest(`${open.url}/exact/x`, { headers: who })).status;
    try {
      await plane.write('block', field, { until: Date.now() + 60_000, reason: 'before the restart' });
      await waitFor(async () => (await status()) === 403 || null, 'the first block', 5_000);
      await plane.write('block', field, null);
      await waitFor(async () => (await status()) === 200 || null, 'the unblock', 5_000);

      await redis.kill();
      await redis.start(); // empty: rw:ctl:seq starts afresh
      const reblockedAt = performance.now();
      await waitFor(async () => {
        try {
          await plane.write('block', field, { until: Date.now() + 60_000, reason: 'after the restart' });
          return true;
        } catch {
          return null; // the client is still reconnecting
        }
      }, 'the write after the restart', 10_000, 100);
      await waitFor(async () => (await status()) === 403 || null, 'the block written after the restart', 10_000);
      figure(`Redis restarted empty under a running sidecar: a block on a client unblocked before the restart applied ${((performance.now() - reblockedAt) / 1000).toFixed(2)} s after Redis returned`);
    } finally {
      await plane.write('block', field, null).catch(() => undefined);
      client.disconnect();
    }
  });
});

function count<T extends string | number>(xs: readonly T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[String(x)] = (out[String(x)] ?? 0) + 1;
  return out;
}
