/**
 * scope: global-leased, the reset the headers promise (`RuleOutcome.resetMs` → `RateLimit: …;t=`,
 * and X-RateLimit-Reset = now + resetMs in epoch seconds) counts down while a leased slice is spent
 * locally, and says what the shared scope says for the same traffic: until the window ends (sliding
 * window counter), until the bucket is full again (token bucket). Before, every verdict spent from a
 * slice reported the reset of the moment the slice was leased: `t` stood still (43 s for 20 s on end)
 * and X-RateLimit-Reset moved later with every second.
 *
 * One sidecar against its own Redis keys (no other consumer), one injected clock (the scripts use
 * it too), so the leased and the shared engines see the same budget and must report the same reset.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createEngine, type Engine, type RuleOutcome } from '../../../sidecar/engine/index.js';
import { resetSeconds } from '../../../sidecar/answers/rateLimitHeaders.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

let redis: Redis;
before(async () => {
  redis = await connectRedis();
});
after(() => redis?.disconnect());

/** `rule` with the scope; leased with slices of up to half the limit, lasting up to half the window. */
function engine(rule: string, scope: 'shared' | 'global-leased', clock: ManualClock): Engine {
  const leasing = scope === 'global-leased' ? ', maxOverAdmission: 0.5' : '';
  const p = policy(`store: { kind: redis, keyPrefix: ${uniqueName('lrs')}, replicas: 1, timeout: 2s }\nrules:\n  - { ${rule}, scope: ${scope}${leasing} }\n`);
  return createEngine({ policy: p, service: 's', clock, redis, redisTime: 'clock' });
}

async function headline(e: Engine): Promise<RuleOutcome> {
  const v = await e.decide(facts());
  assert.equal(v.kind, 'allow');
  return v.headline!;
}

/** Drives a shared and a leased engine in step; returns the leased resets, checking each against the shared one. */
async function inStep(rule: string, clock: ManualClock, steps: number, stepMs: number): Promise<number[]> {
  const shared = engine(rule, 'shared', clock);
  const leased = engine(rule, 'global-leased', clock);
  const resets: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      if (i > 0) clock.advance(stepMs);
      const s = await headline(shared);
      const l = await headline(leased);
      // a ms of float rounding apart at most (the scripts round their reset up)
      assert.ok(Math.abs(l.resetMs - s.resetMs) <= 2, `step ${i} (+${i * stepMs} ms): leased resetMs ${l.resetMs}, shared ${s.resetMs}`);
      assert.equal(resetSeconds(l), resetSeconds(s), `step ${i}: leased t=${resetSeconds(l)}, shared t=${resetSeconds(s)}`);
      resets.push(l.resetMs);
    }
  } finally {
    await shared.close();
    await leased.close();
  }
  return resets;
}

describe('global-leased: the reset counts down while a slice is spent', () => {
  it('sliding window counter: until the current window ends, as the shared scope says, across a window edge', async () => {
    const W = 60_000;
    const base = 1_700_000_000_000;
    const clock = new ManualClock(base - (base % W) + W + 17_000); // 17 s into a window
    // slices of up to 50 units, lasting up to 30 s: one slice covers many steps
    const resets = await inStep('id: g, key: [ip], algorithm: sliding-window-counter, limit: 100, window: 1m', clock, 20, 3_000);
    assert.deepEqual(
      resets,
      Array.from({ length: 20 }, (_, i) => W - ((17_000 + i * 3_000) % W)),
    );
  });

  it('token bucket: until the bucket is full again, as the shared scope says, while slices are spent and renewed', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    // one unit a second refilled; slices of up to 30 units, lasting up to 30 s
    const resets = await inStep('id: g, key: [ip], algorithm: token-bucket, rate: 60/m, burst: 100', clock, 40, 500);
    // two units spent a second, one refilled: the reset grows by 0.5 s a step
    assert.ok(Math.abs(resets[0]! - 1_000) <= 2, `first reset ${resets[0]}`);
    assert.ok(Math.abs(resets.at(-1)! - (1_000 + 39 * 500)) <= 2, `last reset ${resets.at(-1)}`);
  });

  it('token bucket: with nothing spent the reset counts down to 0, second by second', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const e = engine('id: g, key: [ip], algorithm: token-bucket, rate: 60/m, burst: 100', 'global-leased', clock);
    try {
      // 5 requests at once: the bucket is full again 5 s later
      let last: RuleOutcome | null = null;
      for (let i = 0; i < 5; i++) last = await headline(e);
      assert.ok(Math.abs(last!.resetMs - 5_000) <= 2, `reset ${last!.resetMs}`);
      // a request costs a unit too: t counts down by 1 s per 2 s waited (the 1 s it refills, minus its own)
      const ts: number[] = [];
      for (let i = 0; i < 4; i++) {
        clock.advance(2_000);
        ts.push(resetSeconds(await headline(e)));
      }
      assert.deepEqual(ts, [4, 3, 2, 1]);
    } finally {
      await e.close();
    }
  });
});
