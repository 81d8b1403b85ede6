/**
 * scope: global-leased on a sidecar whose clock is ahead of the Redis server's (the default
 * redisTime: server). verdict.refund gives a unit back to the current grant only if that grant was
 * there when the unit was spent; the grant's time came from Redis and the spend's from this
 * sidecar's clock, so with the clock ahead a unit of an old window was credited to a grant of the
 * next one: the sidecar then admitted more in that window than Redis had reserved for it.
 * Real time (Redis TIME), about two seconds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createEngine } from '../../../sidecar/engine/index.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { facts, policy } from '../../unit/engine/helpers.js';

let redis: Redis;
before(async () => {
  redis = await connectRedis();
});
after(() => redis?.disconnect());

async function redisMs(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** Sleeps until Redis time is `offset` ms into a second. */
async function untilMsOfSecond(offset: number): Promise<void> {
  const now = await redisMs();
  const wait = (offset - (now % 1000) + 1000) % 1000;
  await new Promise((r) => setTimeout(r, wait === 0 ? 1000 : wait));
}

describe('global-leased with this sidecar\'s clock ahead of Redis', () => {
  it('sliding window counter: a refund never lets a window admit more than Redis reserved for it', async () => {
    const prefix = uniqueName('skew');
    const e = createEngine({
      policy: policy(`store: { kind: redis, keyPrefix: ${prefix}, timeout: 2s }\nrules:\n  - { id: g, key: [global], algorithm: sliding-window-counter, limit: 10, window: 1s, scope: global-leased, maxOverAdmission: 0.5 }\n`),
      service: 's',
      clock: { now: () => Date.now() + 3_600_000 }, // an hour ahead of Redis
      redis,
    });
    await untilMsOfSecond(100);
    const a = await e.decide(facts());
    assert.equal(a.kind, 'allow');
    await new Promise((r) => setTimeout(r, 500));
    await untilMsOfSecond(150); // the next window in Redis time
    const window = Math.floor((await redisMs()) / 1000) * 1000;
    let admitted = 0;
    const b = await e.decide(facts());
    if (b.kind === 'allow') admitted++;
    a.refund!(); // A was charged to the previous window
    for (let i = 0; i < 40; i++) if ((await e.decide(facts())).kind === 'allow') admitted++;
    assert.equal(Math.floor((await redisMs()) / 1000) * 1000, window, 'the test ran into the next window');
    await e.close(); // gives leftovers back
    await new Promise((r) => setTimeout(r, 50));
    const h = await redis.hgetall(`{${prefix}:g:global}:swc`);
    const reserved = Number(h.w) === window ? Number(h.c) : Number(h.p);
    assert.ok(admitted <= reserved, `admitted ${admitted} in window ${window}, Redis reserved ${reserved} (${JSON.stringify(h)})`);
  });
});
