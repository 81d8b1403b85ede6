/**
 * A policy reload that changes `store.kind`: the kind is restart-only (its connections are opened at
 * start, and the warning says so), while the rest of the new policy applies at once. Before, a
 * redis → memory reload moved every shared counter into the pod's memory at once (each replica then
 * admitting the whole limit), and a memory → redis reload was refused whole ("started without
 * Redis", though REDIS_URL was set), so its other changes never applied.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { redisConnectionFromEnv } from '../../../models/infra.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { silentLogger } from '../../../sidecar/log.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { connectRedis, redisUrl, uniqueName } from '../../helpers/infra.js';
import { httpRequest, startStubUpstream, type StubUpstream } from '../../helpers/proc.js';

function policy(kind: 'memory' | 'redis', limit: number, prefix: string): Policy {
  const r = parsePolicy(`version: 1
store: { kind: ${kind}, keyPrefix: ${prefix} }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: ${limit}, window: 1h }
`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

let up: StubUpstream;
let redis: Redis;
before(async () => {
  up = await startStubUpstream();
  redis = await connectRedis();
});
after(async () => {
  await up?.close();
  redis?.disconnect();
});

async function start(p: Policy): Promise<RunningSidecar> {
  return startSidecar({
    policy: p,
    upstream: up.url,
    listen: { host: '127.0.0.1', port: 0 },
    admin: null,
    redis: redisConnectionFromEnv({ REDIS_URL: redisUrl() }),
    ctlPrefix: uniqueName('reload-kind-ctl'),
    logger: silentLogger(),
    drainSeconds: 1,
  });
}

async function statuses(sc: RunningSidecar, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await httpRequest(sc.address + '/x')).status);
  return out;
}

test('redis → memory on reload: counting stays in Redis until a restart; the new limit applies', async () => {
  const prefix = uniqueName('reload-kind-r2m');
  const sc = await start(policy('redis', 5, prefix));
  try {
    assert.deepEqual(await statuses(sc, 3), [200, 200, 200]);
    await sc.applyPolicy(policy('memory', 7, prefix));
    // 3 counted in Redis before the reload + 4 = the new limit of 7; the next is refused
    assert.deepEqual(await statuses(sc, 5), [200, 200, 200, 200, 429]);
    const keys = await redis.keys(`{${prefix}:*`);
    assert.equal(keys.length, 1, `the counter is in Redis: ${keys.join(',')}`);
    assert.equal(sc.engine().storeHealthy(), true);
    assert.equal(sc.policy().store.kind, 'redis');
  } finally {
    await sc.close();
  }
});

test('memory → redis on reload (REDIS_URL set): the reload applies, counting stays in memory until a restart', async () => {
  const prefix = uniqueName('reload-kind-m2r');
  const sc = await start(policy('memory', 5, prefix));
  try {
    assert.deepEqual(await statuses(sc, 3), [200, 200, 200]);
    await sc.applyPolicy(policy('redis', 7, prefix)); // used to throw: "started without Redis"
    const r = await httpRequest(sc.address + '/x');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ratelimit-limit'], '7');
    assert.deepEqual(await statuses(sc, 4), [200, 200, 200, 429]);
    assert.deepEqual(await redis.keys(`{${prefix}:*`), []);
    assert.equal(sc.policy().store.kind, 'memory');
  } finally {
    await sc.close();
  }
});
