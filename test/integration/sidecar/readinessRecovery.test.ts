/**
 * `/readyz` with failMode closed after a Redis outage, on a PRIVATE redis-server this test kills and
 * restarts. While the store's breaker is open the sidecar is not ready, so Kubernetes sends it no
 * traffic; readiness must come back by itself once Redis answers, without any request to probe with
 * (it used to stay 503 for good: only a decision could close the breaker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redisConnectionFromEnv } from '../../../models/infra.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { silentLogger } from '../../../sidecar/log.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { uniqueName } from '../../helpers/infra.js';
import { httpRequest, metricValue, startStubUpstream, waitFor } from '../../helpers/proc.js';
import { startPrivateRedis } from '../../chaos/lib/privateRedis.js';

async function metric(admin: string | null, name: string): Promise<number> {
  assert.ok(admin, 'the admin listener is up');
  const v = metricValue((await httpRequest(admin + '/metrics')).text, name);
  assert.ok(v !== null, `${name} is exported`);
  return v;
}

/** A sidecar on `redisUrl` with one fixed-window rule of 1000/h and the given failMode (100 ms store timeout). */
async function sidecarOn(redisUrl: string, upstream: string, store: string): Promise<RunningSidecar> {
  const parsed = parsePolicy(`version: 1
store: { kind: redis, timeout: 100ms, ${store} }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: 1000, window: 1h }
`);
  assert.ok(parsed.ok);
  return startSidecar({
    policy: parsed.policy,
    upstream,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    redis: redisConnectionFromEnv({ REDIS_URL: redisUrl }),
    logger: silentLogger(),
    drainSeconds: 1,
  });
}

test('failMode closed: /readyz is 200 again after Redis returns, with no traffic in between', { timeout: 90_000 }, async () => {
  const redis = await startPrivateRedis();
  const up = await startStubUpstream();
  const sc = await sidecarOn(redis.url, up.url, `failMode: closed, keyPrefix: ${uniqueName('ready-recovery')}`);
  const readyz = async (): Promise<number> => (await httpRequest(sc.adminAddress + '/readyz')).status;
  try {
    assert.equal((await httpRequest(sc.address + '/before')).status, 200);
    assert.equal(await readyz(), 200);

    await redis.kill();
    // the decision that finds Redis gone opens the breaker
    const during = await httpRequest(sc.address + '/during');
    assert.equal(during.status, 503);
    assert.equal(await readyz(), 503);
    // requests_total says `limited` for it (the contract's decisions); this counter says why
    assert.equal(await metric(sc.adminAddress, 'ratewarden_store_unavailable_total'), 1);
    assert.equal(await metric(sc.adminAddress, 'ratewarden_store_fallback_decisions_total'), 0);

    await redis.start(); // empty: no scripts cached either
    const upstreamCalls = up.requests.length;
    await waitFor(async () => (await readyz()) === 200, 'readyz 200 after Redis returned', 20_000, 100);
    assert.equal(up.requests.length, upstreamCalls, 'no request was needed to get ready again');

    // decisions come from Redis again (its script cache was empty: NOSCRIPT is answered with EVAL)
    const after = await httpRequest(sc.address + '/after');
    assert.equal(after.status, 200);
    assert.equal(after.headers['x-ratelimit-limit'], '1000');
  } finally {
    await sc.close();
    await up.close();
    await redis.stop();
  }
});

test('failMode open: requests decided by the local fallback while Redis is away are counted', { timeout: 90_000 }, async () => {
  const redis = await startPrivateRedis();
  const up = await startStubUpstream();
  const sc = await sidecarOn(redis.url, up.url, `failMode: open, replicas: 2, keyPrefix: ${uniqueName('fallback-count')}`);
  try {
    assert.equal((await httpRequest(sc.address + '/before')).status, 200);
    assert.equal(await metric(sc.adminAddress, 'ratewarden_store_fallback_decisions_total'), 0);
    await redis.kill();
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(sc.address + `/during-${i}`);
      assert.equal(r.status, 200);
      // the fallback's share of the limit: 1000 ÷ store.replicas
      assert.equal(r.headers['x-ratelimit-limit'], '500');
    }
    assert.equal(await metric(sc.adminAddress, 'ratewarden_store_fallback_decisions_total'), 3);
    assert.equal(await metric(sc.adminAddress, 'ratewarden_store_unavailable_total'), 0);
  } finally {
    await sc.close();
    await up.close();
    await redis.stop();
  }
});
