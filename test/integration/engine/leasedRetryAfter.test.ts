/**
 * scope: global-leased, a request costing more than one unit refused because the shared budget is
 * empty: its Retry-After must cover its whole cost, as the shared rule's does — a client retrying
 * at Retry-After must not be refused again and again (the refusal cached from Redis is the time
 * until ONE unit is back).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createEngine, type Engine, type Verdict } from '../../../sidecar/engine/index.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

let redis: Redis;
before(async () => {
  redis = await connectRedis();
});
after(() => redis?.disconnect());

function engine(rule: string, clock: ManualClock): Engine {
  const p = policy(`store: { kind: redis, keyPrefix: ${uniqueName('lra')}, timeout: 2s }\nrules:\n  - ${rule}\n`);
  return createEngine({ policy: p, service: 's', clock, redis, redisTime: 'clock' });
}

async function retriesUntilAdmitted(e: Engine, clock: ManualClock, first: Verdict): Promise<{ refusals: number; waited: number }> {
  let v = first;
  let refusals = 0;
  let waited = 0;
  while (v.kind === 'limit' && refusals < 20) {
    refusals++;
    waited += v.retryAfterMs!;
    clock.advance(v.retryAfterMs!);
    v = await e.decide(facts());
  }
  return { refusals, waited };
}

describe('global-leased: Retry-After of a multi-unit request', () => {
  for (const scope of ['shared', 'global-leased']) {
    it(`token bucket (${scope}): a cost-5 request retried at Retry-After passes`, async () => {
      const clock = new ManualClock(1_700_000_000_000);
      // one unit every 10 s; a request takes 5
      const e = engine(`{ id: g, key: [ip], algorithm: token-bucket, rate: 6/m, burst: 5, cost: 5, scope: ${scope} }`, clock);
      assert.equal((await e.decide(facts())).kind, 'allow');
      const refused = await e.decide(facts());
      assert.equal(refused.kind, 'limit');
      const { refusals, waited } = await retriesUntilAdmitted(e, clock, refused);
      assert.equal(refusals, 1, `refused ${refusals} times, ${waited} ms in all, before passing`);
      await e.close();
    });
    it(`sliding window counter (${scope}): a cost-5 request retried at Retry-After passes`, async () => {
      const clock = new ManualClock(1_700_000_000_000 + 17_000);
      const e = engine(`{ id: g, key: [ip], algorithm: sliding-window-counter, limit: 10, window: 1m, cost: 5, scope: ${scope} }`, clock);
      assert.equal((await e.decide(facts())).kind, 'allow');
      assert.equal((await e.decide(facts())).kind, 'allow');
      const refused = await e.decide(facts());
      assert.equal(refused.kind, 'limit');
      const { refusals, waited } = await retriesUntilAdmitted(e, clock, refused);
      assert.equal(refusals, 1, `refused ${refusals} times, ${waited} ms in all, before passing`);
      await e.close();
    });
  }
});
