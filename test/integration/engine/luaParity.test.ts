/**
 * The Lua scripts are the same algorithms as the TypeScript core: driven by the same injected clock
 * (redisTime: 'clock'), a Redis-backed engine and a memory-backed engine give identical outcomes for
 * random request sequences — so every property proven on the core holds in Redis — also with
 * fractional and multi-unit costs, fractional tier multipliers and countRejected. Also: every key
 * the scripts write carries a TTL.
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

const RULES: Record<string, string> = {
  'fixed window': '{ id: r, key: [ip], algorithm: fixed-window, limit: 7, window: 1s }',
  'sliding window log': '{ id: r, key: [ip], algorithm: sliding-window-log, limit: 7, window: 1s }',
  'sliding window counter': '{ id: r, key: [ip], algorithm: sliding-window-counter, limit: 7, window: 1s }',
  'token bucket': '{ id: r, key: [ip], algorithm: token-bucket, rate: 7/s, burst: 9 }',
  'leaky bucket': '{ id: r, key: [ip], algorithm: leaky-bucket, rate: 7/s, burst: 4 }',
  'leaky bucket (queue)': '{ id: r, key: [ip], algorithm: leaky-bucket, rate: 7/s, burst: 2, mode: queue, maxDelay: 400ms }',
  concurrency: '{ id: r, key: [ip], algorithm: concurrency, limit: 3, timeout: 700ms }',
  'several rules (mixed algorithms, shadow, countRejected)': `{ id: a, key: [ip], algorithm: token-bucket, rate: 5/s, burst: 6 }
  - { id: b, key: [ip], algorithm: sliding-window-log, limit: 8, window: 2s, countRejected: true }
  - { id: c, key: [ip], algorithm: fixed-window, limit: 3, window: 500ms, shadow: true }
  - { id: d, key: [ip], algorithm: concurrency, limit: 4, timeout: 1s }`,
};

/** `head`: policy text before the rules (tiers). */
function pair(rule: string, prefix: string, clock: ManualClock, head = ''): [Engine, Engine] {
  const memory = createEngine({ policy: policy(`${head}rules:\n  - ${rule}\n`), service: 's', clock });
  const shared = createEngine({
    policy: policy(`${head}store: { kind: redis, keyPrefix: ${prefix}, timeout: 2s }\nrules:\n  - ${rule}\n`),
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

const steps = fc.array(
  fc.record({
    dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 1_500 })),
    release: fc.integer({ min: 0, max: 3 }),
  }),
  { minLength: 1, maxLength: 60 },
);

describe('Lua scripts against the TypeScript core', () => {
  for (const [name, rule] of Object.entries(RULES)) {
    it(`${name}: Redis and memory give identical outcomes`, async () => {
      const prefix = uniqueName('parity');
      const clock = new ManualClock(1_700_000_000_000);
      const [memory, shared] = pair(rule, prefix, clock);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(steps, async (seq) => {
          const ip = `10.9.${run >> 8}.${run++ & 255}`; // a fresh key per run
          const held: Array<[Verdict, Verdict]> = [];
          for (const [i, step] of seq.entries()) {
            clock.advance(step.dt);
            if (step.release === 0 && held.length > 0) {
              const [m, s] = held.shift()!;
              m.release?.();
              s.release?.();
              await new Promise((r) => setImmediate(r)); // the Redis release is sent asynchronously
              await redis.ping();
            }
            const m = await memory.decide(facts({ ip }));
            const s = await shared.decide(facts({ ip }));
            assert.deepEqual(view(s), view(m), `step ${i} at +${step.dt} ms`);
            held.push([m, s]);
          }
        }),
        { seed: 7, numRuns: 25 },
      );
      await shared.close();
    });
  }

  it('fractional emission intervals: both admit a request that exactly fills the bucket, and what "remaining" promised', async () => {
    const cases: Array<[string, Array<[number, string]>]> = [
      // an empty bucket, cost = burst, again and again (refused forever before)
      ['{ id: r, key: [ip], algorithm: leaky-bucket, rate: 7/s, burst: 1 }', Array.from({ length: 12 }, (_, i) => [60_000 + 7 * i, 'allow'] as [number, string])],
      ['{ id: r, key: [ip], algorithm: leaky-bucket, rate: 95/s, burst: 3 }', [[0, 'allow'], [0, 'allow'], [0, 'allow'], [0, 'limit'], [60_000, 'allow'], [0, 'allow'], [0, 'allow'], [0, 'limit']]],
      ['{ id: r, key: [ip], algorithm: leaky-bucket, rate: 3/s, burst: 3, mode: queue, maxDelay: 1s }', [[0, 'allow'], [0, 'allow'], [0, 'allow'], [0, 'queue'], [0, 'queue'], [0, 'queue'], [0, 'limit']]],
      // 0.9999999999999998 tokens after "1 remaining": the next unit request passes
      ['{ id: r, key: [ip], algorithm: token-bucket, rate: 3/s, burst: 10 }', [...Array.from({ length: 10 }, () => [0, 'allow'] as [number, string]), [897, 'allow'], [103, 'allow'], [0, 'allow'], [0, 'limit']]],
    ];
    for (const [rule, seq] of cases) {
      const clock = new ManualClock(1_700_000_000_000);
      const [memory, shared] = pair(rule, uniqueName('frac'), clock);
      const got: string[] = [];
      for (const [i, [dt]] of seq.entries()) {
        clock.advance(dt);
        const m = await memory.decide(facts());
        const s = await shared.decide(facts());
        assert.deepEqual(view(s), view(m), `${rule} step ${i}`);
        got.push(s.kind);
      }
      assert.deepEqual(got, seq.map(([, kind]) => kind), rule);
      await shared.close();
    }
  });

  it('sets a TTL on every key it writes', async () => {
    const prefix = uniqueName('ttl');
    const clock = new ManualClock(Date.now());
    const all = Object.values(RULES).map((r, i) => r.replace(/id: (\w)/g, `id: $1${i}`)).join('\n  - ');
    const [, shared] = pair(all, prefix, clock);
    for (let i = 0; i < 30; i++) {
      const v = await shared.decide(facts({ ip: `10.8.0.${i % 3}` }));
      if (i % 2 === 0) v.release?.();
      clock.advance(37);
    }
    await new Promise((r) => setTimeout(r, 20));
    const keys = await redis.keys(`{${prefix}:*`);
    assert.ok(keys.length >= 10, `only ${keys.length} keys written`);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0, `${key} has no TTL (${ttl})`);
    }
    await shared.close();
  });
});

// beyond unit costs: fractional and multi-unit costs, fractional tier multipliers, countRejected on every algorithm
const TIERS = 'tiers: { free: {}, odd: { multiplier: 0.37 }, big: { multiplier: 2.5 } }\n';

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
          const [memory, shared] = pair(rule, uniqueName(`pc${ai}`), clock, TIERS);
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
