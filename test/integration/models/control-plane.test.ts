import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis, Cluster } from 'ioredis';
import { connectCluster, connectRedis, uniqueName } from '../../helpers/infra.js';
import { controlKeys, decodeControlMessage, type ControlMessage } from '../../../models/control.js';
import { MemoryControlPlane, RedisControlPlane, type ControlPlane } from '../../../models/controlPlane.js';

function collect(plane: ControlPlane): { messages: ControlMessage[]; raw: string[]; ready: Promise<() => Promise<void>> } {
  const messages: ControlMessage[] = [];
  const raw: string[] = [];
  const ready = plane.subscribe(
    (text) => {
      raw.push(text);
      const d = decodeControlMessage(text);
      if (d.ok) messages.push(d.value);
    },
    () => undefined,
  );
  return { messages, raw, ready };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function behavesAsTheContractSays(name: string, setup: () => Promise<{ plane: ControlPlane; redis: Redis | Cluster | null; prefix: string; done: () => Promise<void> }>): void {
  describe(name, () => {
    let ctx: Awaited<ReturnType<typeof setup>>;
    before(async () => {
      ctx = await setup();
    });
    after(async () => ctx.done());

    test('a block is stored in the blocks hash with its seq and announced on the channel', async () => {
      const sub = collect(ctx.plane);
      const unsubscribe = await sub.ready;
      const until = Date.now() + 60_000;
      const seq = await ctx.plane.write('block', 'apiKey:9f86d081884c7d65', { until, reason: 'credential stuffing', anomalyId: 'an_1' });
      await new Promise((r) => setTimeout(r, 0));
      await untilTrue(() => sub.messages.length === 1);
      assert.deepEqual(sub.messages[0], { v: 1, seq, kind: 'block', field: 'apiKey:9f86d081884c7d65', value: { seq, until, reason: 'credential stuffing', anomalyId: 'an_1' } });
      const state = await ctx.plane.read();
      assert.equal(state.seq, seq);
      assert.deepEqual(state.blocks.get('apiKey:9f86d081884c7d65'), { seq, until, reason: 'credential stuffing', anomalyId: 'an_1' });
      if (ctx.redis) {
        const keys = controlKeys(ctx.prefix);
        const stored = JSON.parse((await ctx.redis.hget(keys.blocks, 'apiKey:9f86d081884c7d65'))!);
        assert.equal(stored.seq, seq);
        assert.equal(Number(await ctx.redis.get(keys.seq)), seq);
      }
      await unsubscribe();
    });

    test('an unblock deletes the field and is announced as kind block with value null', async () => {
      const sub = collect(ctx.plane);
      const unsubscribe = await sub.ready;
      await ctx.plane.write('block', 'ip:10.9.9.9', { until: Date.now() + 1000, reason: 'x' });
      const seq = await ctx.plane.write('block', 'ip:10.9.9.9', null);
      await untilTrue(() => sub.messages.length === 2);
      // on a Cluster, PUBLISH may leave through different nodes, so arrival order is not seq order:
      // subscribers order by seq (and reload on a gap), so the test looks the message up by seq
      assert.deepEqual(sub.messages.find((m) => m.seq === seq), { v: 1, seq, kind: 'block', field: 'ip:10.9.9.9', value: null });
      assert.equal((await ctx.plane.read()).blocks.has('ip:10.9.9.9'), false);
      await unsubscribe();
    });

    test('overrides and load values are stored under their hashes with increasing seq', async () => {
      const a = await ctx.plane.write('override', 'per-key|apiKey:ab|ip:10.0.0.1', { multiplier: 0.2, until: Date.now() + 1000, reason: 'anomaly' });
      const b = await ctx.plane.write('load', 'api', { multiplier: 0.5, since: Date.now(), reason: 'p99 410ms > 250ms' });
      assert.ok(b > a);
      const state = await ctx.plane.read();
      assert.equal(state.overrides.get('per-key|apiKey:ab|ip:10.0.0.1')!.multiplier, 0.2);
      assert.equal(state.load.get('api')!.multiplier, 0.5);
    });

    test('an invalid value is refused before anything is written', async () => {
      const before = (await ctx.plane.read()).seq;
      await assert.rejects(ctx.plane.write('load', 'api', { multiplier: 7, since: 0, reason: 'x' }), /multiplier must be ≤ 1/);
      await assert.rejects(ctx.plane.write('override', 'no-bar', { multiplier: 0.5, until: 1, reason: 'x' }), /<ruleId>\|<clientKey>/);
      assert.equal((await ctx.plane.read()).seq, before);
    });
  });
}

async function untilTrue(cond: () => boolean): Promise<void> {
  await until(cond);
}

behavesAsTheContractSays('the Redis control plane on a real Redis', async () => {
  const redis = await connectRedis();
  const prefix = uniqueName('rwtest:ctl');
  const plane = new RedisControlPlane(redis, controlKeys(prefix));
  return {
    plane,
    redis,
    prefix,
    done: async () => {
      const keys = controlKeys(prefix);
      await redis.del(keys.overrides, keys.blocks, keys.load, keys.seq);
      await plane.close();
      redis.disconnect();
    },
  };
});

behavesAsTheContractSays('the Redis control plane on a real Redis Cluster', async () => {
  const redis = await connectCluster();
  const prefix = uniqueName('rwtest:ctl');
  const plane = new RedisControlPlane(redis, controlKeys(prefix));
  return {
    plane,
    redis,
    prefix,
    done: async () => {
      const keys = controlKeys(prefix);
      for (const key of [keys.overrides, keys.blocks, keys.load, keys.seq]) await redis.del(key);
      await plane.close();
      redis.disconnect();
    },
  };
});

behavesAsTheContractSays('the in-memory control plane of the demo', async () => {
  const plane = new MemoryControlPlane();
  return { plane, redis: null, prefix: '', done: () => plane.close() };
});

describe('raw channel messages on Redis', () => {
  test('are exactly {v, seq, kind, field, value} JSON', async () => {
    const redis = await connectRedis();
    const keys = controlKeys(uniqueName('rwtest:ctl'));
    const sub = redis.duplicate();
    const got: string[] = [];
    sub.on('message', (_c: string, m: string) => got.push(m));
    await sub.subscribe(keys.channel);
    const plane = new RedisControlPlane(redis, keys);
    const seq = await plane.write('block', 'user:alice', { until: 123, reason: 'r' });
    await until(() => got.length === 1);
    assert.deepEqual(JSON.parse(got[0]!), { v: 1, seq, kind: 'block', field: 'user:alice', value: { seq, until: 123, reason: 'r' } });
    sub.disconnect();
    await redis.del(keys.blocks, keys.seq);
    redis.disconnect();
  });
});
