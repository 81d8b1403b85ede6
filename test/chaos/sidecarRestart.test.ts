/**
 * A sidecar process restarted under load (shared Redis, keys under a prefix of this test's own):
 *
 * - SIGTERM: the requests in flight finish with their upstream answer (drained), the listener
 *   closes (a request arriving on a connection still open would get 503 `shutting_down`; the unit
 *   test of close() covers that), the process exits 0, and every concurrency lease it held is
 *   released in Redis — the restarted sidecar has the whole concurrency budget at once.
 * - SIGKILL (nothing drains): the dead process's leases stop counting when the rule's timeout
 *   passes, so a crash cannot hold capacity for longer than that.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { childEnv, connectRedis, infraEnv, uniqueName } from '../helpers/infra.js';
import { freePort, startSidecarProcess, startStubUpstream, waitFor, type SidecarProcess, type StubUpstream } from '../helpers/proc.js';
import { figure, startLoad, thousands } from './lib/load.js';
import { sleep } from './lib/privateRedis.js';

const LIMIT = 40;
const LEASE_TIMEOUT_S = 4;
const DELAY_MS = 600;
const prefix = uniqueName('chaos-restart');
let redis: Redis;
let up: StubUpstream;
let port: number;
const running: SidecarProcess[] = [];

const POLICY = `version: 1
store: { kind: redis, failMode: closed, keyPrefix: ${prefix} }
rules:
  - { id: inflight, match: { path: "/delay/**" }, key: [global], algorithm: concurrency, limit: ${LIMIT}, timeout: ${LEASE_TIMEOUT_S}s }
`;

async function start(): Promise<SidecarProcess> {
  const sc = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: childEnv({ REDIS_URL: infraEnv().REDIS_URL!, RW_CTL_PREFIX: uniqueName('chaos-restart-ctl') }), args: ['--listen', `127.0.0.1:${port}`] });
  running.push(sc);
  return sc;
}

/** Leases currently held in Redis (members of the concurrency rule's sorted set). */
async function leases(): Promise<number> {
  const keys = await redis.keys(`{${prefix}:inflight:*`);
  let n = 0;
  for (const k of keys) n += await redis.zcard(k);
  return n;
}

before(async () => {
  redis = await connectRedis();
  up = await startStubUpstream();
  port = await freePort();
});

after(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  await up?.close();
  const keys = await redis?.keys(`{${prefix}:*`);
  if (keys?.length) await redis.del(...keys);
  redis?.disconnect();
});

test('SIGTERM under load: in-flight requests drain, the listener closes, exit 0, every lease released', { timeout: 90_000 }, async () => {
  const sc = await start();
  const url = `http://127.0.0.1:${port}`;
  const l = startLoad({ url, workers: 24, pauseMs: 20, path: (w, n) => `/delay/${DELAY_MS}?w=${w}&n=${n}`, timeoutMs: 10_000 });
  await waitFor(async () => (await leases()) >= 10 || null, 'requests in flight', 10_000, 20);
  await sleep(1_000);
  const held = await leases();
  const termAt = performance.now();
  const exit = sc.stop('SIGTERM', 20_000);
  const { code } = await exit;
  const exitedAt = performance.now();
  const leftAfterExit = await leases();
  // restart on the same port while the load goes on
  const sc2 = await start();
  const restartedAt = performance.now();
  await sleep(2_000);
  await l.stop();

  const inFlight = l.samples.filter((s) => s.at < termAt && s.at + s.ms > termAt);
  const drainedOk = inFlight.filter((s) => s.status === 200).length;
  const duringDrain = l.samples.filter((s) => s.at >= termAt && s.at < exitedAt);
  const shuttingDown = duringDrain.filter((s) => s.status === 503).length;
  const refused = l.errors.filter((e) => e.at >= termAt && e.at < restartedAt).length;
  const afterRestart = l.samples.filter((s) => s.at >= restartedAt);
  figure(
    `Sidecar SIGTERM under load: ${drainedOk}/${inFlight.length} in-flight requests drained with 200 (drain took ${((exitedAt - termAt) / 1000).toFixed(2)} s, exit ${code}); ` +
      `${shuttingDown} arrivals on open connections got 503 shutting_down, ${thousands(refused)} connection attempts refused in the ${((restartedAt - exitedAt) / 1000).toFixed(1)} s before the new process listened; ` +
      `leases held at SIGTERM ${held}, after exit ${leftAfterExit}; restarted sidecar served ${thousands(afterRestart.filter((s) => s.status === 200).length)}/${thousands(afterRestart.length)}`,
  );
  assert.equal(code, 0);
  assert.ok(inFlight.length >= 10, `only ${inFlight.length} requests in flight at SIGTERM`);
  assert.equal(drainedOk, inFlight.length, `in-flight answers: ${inFlight.map((s) => s.status).join(',')}`);
  assert.ok(duringDrain.every((s) => s.status === 503 || s.at + s.ms <= exitedAt), 'arrivals during the drain are answered 503');
  assert.equal(leftAfterExit, 0, 'every lease was released');
  assert.ok(afterRestart.length > 0 && afterRestart.every((s) => s.status === 200 || s.status === 429));
  assert.ok(sc.logs.some((line) => line.msg === 'draining') && sc.logs.some((line) => line.msg === 'stopped'));
  await sc2.stop();
  assert.equal(await leases(), 0);
});

test(`SIGKILL with requests in flight: the dead sidecar's leases stop counting after the rule's ${LEASE_TIMEOUT_S} s timeout`, { timeout: 60_000 }, async () => {
  const sc = await start();
  const url = `http://127.0.0.1:${port}`;
  const l = startLoad({ url, workers: 12, pauseMs: 0, path: (w, n) => `/delay/${DELAY_MS * 20}?w=${w}&n=${n}`, timeoutMs: 30_000 });
  await waitFor(async () => (await leases()) >= 12 || null, '12 requests in flight', 10_000, 20);
  await sc.stop('SIGKILL');
  const killedAt = performance.now();
  await l.stop();
  const stranded = await leases();
  const sc2 = await start();
  // the whole budget: LIMIT slow requests at once must all be admitted once the stranded leases expired
  let fullAt: number | null = null;
  while (performance.now() - killedAt < (LEASE_TIMEOUT_S + 5) * 1000) {
    const burst = startLoad({ url, workers: LIMIT, path: (w, n) => `/delay/300?probe=${w}-${n}` });
    await sleep(150);
    await burst.stop();
    if (burst.samples.length >= LIMIT && burst.samples.every((s) => s.status === 200)) {
      fullAt = performance.now() - killedAt;
      break;
    }
    await sleep(250);
  }
  figure(`Sidecar SIGKILL with ${stranded} requests in flight: ${stranded} leases stranded in Redis; the full concurrency budget (${LIMIT}) was available again ${((fullAt ?? NaN) / 1000).toFixed(1)} s later (rule timeout ${LEASE_TIMEOUT_S} s)`);
  assert.ok(stranded >= 12);
  assert.ok(fullAt !== null && fullAt <= (LEASE_TIMEOUT_S + 2) * 1000, `full budget again after ${fullAt} ms`);
  await sc2.stop();
});
