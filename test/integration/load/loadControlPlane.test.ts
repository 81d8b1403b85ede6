/**
 * The load controller and the sidecar through a real Redis control plane (unique RW_CTL_PREFIX):
 * the analyzer's loop writes `rw:ctl:load` and announces it, an in-process sidecar subscribed to the
 * same prefix applies the per-tier multiplier to its limits within moments, a restarted loop resumes
 * what is in force, and once the loop stops refreshing, `until` passes and the sidecar is back to
 * its full limits by itself.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { connectRedis, redisUrl, uniqueName } from '../../helpers/infra.js';
import { httpRequest, startStubUpstream, waitFor, type StubUpstream } from '../../helpers/proc.js';
import { controlKeys, decodeControlMessage, decodeControlValue, type ControlMessage } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { LoadControlLoop, loadTtlMs } from '../../../analyzer/load/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';

const POLICY = `
version: 1
identity: { apiKey: { header: x-api-key } }
clients: { "apiKey:ent-key": { tier: enterprise } }
tiers: { free: {}, pro: {}, enterprise: { shedPriority: 0 } }
store: { kind: memory }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 100, window: 60s }
analyzer:
  load:
    targets: { p99: 250ms, errorRate: 0.01 }
    minMultiplier: 0.2
    interval: 200ms
`;

function policy(): Policy {
  const r = parsePolicy(POLICY);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

function traffic(now: number, latencyMs: number): CallEvent[] {
  return Array.from({ length: 200 }, (_, i) => ({
    v: 1,
    ts: now - 200 + i,
    pod: 'p',
    service: 'shop',
    method: 'GET',
    route: '/x',
    status: 200,
    latencyMs,
    bytesIn: 0,
    bytesOut: 0,
    ip: '10.0.0.1',
    client: `apiKey:${i}`,
    user: null,
    uaHash: null,
    decision: 'allowed',
    rule: 'per-key',
    cost: 1,
    tier: i % 10 === 0 ? 'enterprise' : 'free',
  }));
}

async function limitFor(sc: RunningSidecar, key: string): Promise<number> {
  const r = await httpRequest(`${sc.address}/x`, { headers: { 'x-api-key': key } });
  return Number(r.headers['x-ratelimit-limit']);
}

describe('load multiplier over the Redis control plane', () => {
  let redis: Redis;
  let prefix: string;
  let plane: RedisControlPlane;
  let up: StubUpstream;
  let sc: RunningSidecar;
  const loops: LoadControlLoop[] = [];

  before(async () => {
    redis = await connectRedis();
    prefix = uniqueName('rw:test:load');
    plane = new RedisControlPlane(redis, controlKeys(prefix));
    up = await startStubUpstream();
    sc = await startSidecar({
      policy: policy(),
      upstream: up.url,
      listen: { host: '127.0.0.1', port: 0 },
      admin: null,
      redis: { url: redisUrl(), clusterNodes: null, caFile: null, username: null, password: null, clusterTls: false },
      ctlPrefix: prefix,
      service: 'shop',
      logger: silentLogger(),
      drainSeconds: 1,
    });
  });

  after(async () => {
    for (const l of loops) await l.stop();
    await sc?.close();
    await up?.close();
    if (redis) {
      const k = controlKeys(prefix);
      await redis.del(k.overrides, k.blocks, k.load, k.seq);
      await plane.close();
      redis.disconnect();
    }
  });

  test('a tightening is stored in rw:ctl:load and announced with kind load', async () => {
    const messages: ControlMessage[] = [];
    const unsubscribe = await plane.subscribe((raw) => {
      const m = decodeControlMessage(raw);
      if (m.ok) messages.push(m.value);
    }, () => undefined);
    const loop = new LoadControlLoop({ policy: policy(), plane });
    loops.push(loop);
    for (let i = 0; i < 3; i++) {
      const now = Date.now();
      loop.observe(traffic(now, 600));
      await loop.tick(now);
    }
    const stored = await redis.hget(controlKeys(prefix).load, 'shop');
    const value = decodeControlValue('load', stored!);
    assert.ok(value.ok, stored!);
    assert.ok(value.value.multiplier < 1);
    assert.equal(value.value.tiers!.enterprise, 1);
    assert.ok(value.value.tiers!.free! < value.value.multiplier);
    assert.ok(value.value.until! > Date.now());
    assert.match(value.value.reason, /p99 \d+ms > target 250ms/);
    await waitFor(() => messages.some((m) => m.kind === 'load' && m.field === 'shop' && m.seq === value.value.seq), 'the announcement');
    await unsubscribe();
  });

  test("the sidecar applies the free tier's multiplier to its limits and leaves enterprise alone", async () => {
    const stored = decodeControlValue('load', (await redis.hget(controlKeys(prefix).load, 'shop'))!);
    assert.ok(stored.ok);
    const expected = Math.floor(100 * stored.value.tiers!.free! + 1e-9);
    await waitFor(async () => (await limitFor(sc, 'free-key')) === expected, `free limit ${expected}`, 5_000);
    assert.equal(await limitFor(sc, 'ent-key'), 100);
  });

  test('a restarted loop resumes the multiplier in force from Redis', async () => {
    const before = decodeControlValue('load', (await redis.hget(controlKeys(prefix).load, 'shop'))!);
    assert.ok(before.ok);
    await loops[0]!.stop();
    const loop = new LoadControlLoop({ policy: policy(), plane });
    loops.push(loop);
    await loop.start();
    await loop.stop();
    assert.equal(loop.getLoad().services[0]!.multiplier, before.value.multiplier);
  });

  test('when nobody refreshes it, the value expires by its until and the sidecar is back to its full limits', async () => {
    const stored = decodeControlValue('load', (await redis.hget(controlKeys(prefix).load, 'shop'))!);
    assert.ok(stored.ok);
    assert.ok(stored.value.until! - Date.now() <= loadTtlMs(200));
    await waitFor(async () => (await limitFor(sc, 'free-key-2')) === 100, 'the full limit after until', loadTtlMs(200) + 3_000, 100);
    assert.ok(Date.now() >= stored.value.until! - 50, 'not before until');
  });
});
