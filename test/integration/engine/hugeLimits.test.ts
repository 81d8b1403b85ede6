/**
 * Effective limits the policy allows (limit ≤ 1e12 × a tier multiplier ≤ 1e6, or an operator's
 * override) reach 1e18, beyond the 2^53 a reply number holds exactly: the Redis store must still
 * decide as the memory store does (it packed status + 4 × remaining, and 4e16 − 3 read back as a
 * rejection).
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

const TIERS = 'tiers: { free: {}, vast: { multiplier: 1000000 } }\n';
const RULES = [
  '{ id: r, key: [ip], algorithm: fixed-window, limit: 10000000000, window: 1m }',
  '{ id: r, key: [ip], algorithm: sliding-window-log, limit: 10000000000, window: 1m }',
  '{ id: r, key: [ip], algorithm: sliding-window-counter, limit: 1000000000000, window: 1m }',
  '{ id: r, key: [ip], algorithm: token-bucket, rate: 1000000000000/s, burst: 1000000000000 }',
  '{ id: r, key: [ip], algorithm: leaky-bucket, rate: 1000000000000/s, burst: 1000000000000 }',
];

const view = (v: Verdict) => ({ kind: v.kind, outcomes: v.outcomes.map((o) => ({ allowed: o.allowed, remaining: o.remaining, limit: o.limit, resetMs: o.resetMs })) });

describe('huge effective limits', () => {
  for (const rule of RULES) {
    it(`${rule} × 1e6: Redis admits and reports what memory does`, async () => {
      const clock = new ManualClock(1_700_000_000_000);
      const memory = createEngine({ policy: policy(`${TIERS}rules:\n  - ${rule}\n`), service: 's', clock });
      const shared: Engine = createEngine({
        policy: policy(`${TIERS}store: { kind: redis, keyPrefix: ${uniqueName('huge')}, timeout: 2s }\nrules:\n  - ${rule}\n`),
        service: 's',
        clock,
        redis,
        redisTime: 'clock',
      });
      for (let i = 0; i < 3; i++) {
        const m = await memory.decide(facts({ tier: 'vast' }));
        const s = await shared.decide(facts({ tier: 'vast' }));
        assert.equal(m.kind, 'allow');
        assert.deepEqual(view(s), view(m), `request ${i}`);
        clock.advance(7);
      }
      await shared.close();
    });
  }
});

/**
 * Times beyond 2^63 ms: a bucket of 1e12 that refills at 1 a year takes 3e22 ms to fill. The reply
 * converts numbers to 64-bit integers, and such a time came back as -2^63: a request costing more
 * than the bucket (never admitted) got Retry-After 1 s from Redis, ~1e15 s from memory. Both now
 * report the same capped time (MAX_MS).
 */
describe('huge times', () => {
  for (const algorithm of ['token-bucket', 'leaky-bucket']) {
    it(`${algorithm}, rate 1/365d, burst 1e12: Redis reports the retry and reset times memory does`, async () => {
      const rule = `{ id: r, key: [ip], algorithm: ${algorithm}, rate: 1/365d, burst: 1000000000000, cost: { graphql: { maxDepth: 5 } } }`;
      const clock = new ManualClock(1_700_000_000_000);
      const memory = createEngine({ policy: policy(`rules:\n  - ${rule}\n`), service: 's', clock });
      const shared: Engine = createEngine({
        policy: policy(`store: { kind: redis, keyPrefix: ${uniqueName('hugetime')}, timeout: 2s }\nrules:\n  - ${rule}\n`),
        service: 's',
        clock,
        redis,
        redisTime: 'clock',
      });
      const full = (v: Verdict) => ({ ...view(v), retryAfterMs: v.retryAfterMs, retry: v.outcomes.map((o) => o.retryAfterMs) });
      // 1e13 units (more than the bucket holds: never admitted), then one unit
      for (const [i, n] of [10_000_000_000_000, 0, 10_000_000_000_000].entries()) {
        const graphql = { query: `{ a(first: ${n}) { b } }` };
        const m = await memory.decide(facts({ method: 'POST', graphql }));
        const s = await shared.decide(facts({ method: 'POST', graphql }));
        assert.deepEqual(full(s), full(m), `request ${i}`);
        if (m.kind === 'limit') assert.ok(s.retryAfterMs! > 1e12, `request ${i}: Retry-After ${s.retryAfterMs} ms`);
        clock.advance(7);
      }
      await shared.close();
    });
  }
});
