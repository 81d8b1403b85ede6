/**
 * Twin engines for refund tests: the same requests on the same clock through two engines, one of
 * them with an extra request that is refunded; every later outcome must be the same on both.
 */
import assert from 'node:assert/strict';
import type { Engine, Verdict } from '../../../sidecar/engine/index.js';
import { ManualClock, facts } from './helpers.js';

export interface TwinOptions {
  before?: number;
  refundAfterMs?: number;
  between?: boolean;
  later?: number;
  stepMs?: number;
  release?: boolean;
  /** Awaited after the refund (Redis: let it land). */
  settle?: () => Promise<void>;
}

/** What a later request sees: the verdict and every rule's numbers. */
function seen(v: Verdict): unknown {
  return { kind: v.kind, delayMs: v.delayMs, retryAfterMs: v.retryAfterMs, outcomes: v.outcomes.map((o) => ({ ...o })) };
}

/**
 * Runs `before` admitted requests on both engines, one extra (refunded after `refundAfterMs`) on the
 * first, then `later` requests `stepMs` apart on both, and returns what each saw.
 */
export async function twin(
  make: (clock: ManualClock) => [Engine, Engine],
  opts: TwinOptions = {},
): Promise<{ withRefund: unknown[]; without: unknown[] }> {
  const clock = new ManualClock(1_700_000_000_000 + 123);
  const [a, b] = make(clock);
  const held: Verdict[] = [];
  for (let i = 0; i < (opts.before ?? 2); i++) {
    held.push(await a.decide(facts()), await b.decide(facts()));
    clock.advance(7);
  }
  const refunded = await a.decide(facts());
  assert.ok(refunded.kind === 'allow' || refunded.kind === 'queue', `the refunded request was admitted (${refunded.kind})`);
  assert.equal(typeof refunded.refund, 'function');
  clock.advance(opts.refundAfterMs ?? 3);
  if (opts.between) {
    // a request on both before the refund arrives (so the state has moved on, e.g. to a new window)
    held.push(await a.decide(facts()), await b.decide(facts()));
    clock.advance(1);
  }
  refunded.refund!();
  refunded.refund!(); // idempotent
  if (opts.release) refunded.release?.(); // a no-op after the refund
  await opts.settle?.();
  const withRefund: unknown[] = [];
  const without: unknown[] = [];
  for (let i = 0; i < (opts.later ?? 8); i++) {
    withRefund.push(seen(await a.decide(facts())));
    without.push(seen(await b.decide(facts())));
    clock.advance(opts.stepMs ?? 5);
  }
  for (const v of held) v.release?.();
  return { withRefund, without };
}

/**
 * Equal, except that times may differ by 1 ms: a bucket's level is a float, and the same level
 * reached along two paths (refilled from another timestamp) can round up to the next millisecond.
 */
export function assertSame(actual: unknown, expected: unknown, path = ''): void {
  if (typeof actual === 'number' && typeof expected === 'number' && /(resetMs|retryAfterMs|delayMs)$/.test(path)) {
    assert.ok(Math.abs(actual - expected) <= 1, `${path}: ${actual} vs ${expected}`);
    return;
  }
  if (actual !== null && expected !== null && typeof actual === 'object' && typeof expected === 'object') {
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), path);
    for (const k of Object.keys(actual)) assertSame((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
    return;
  }
  assert.equal(actual, expected, path);
}

export async function assertAsIfNeverHappened(make: (clock: ManualClock) => [Engine, Engine], opts: TwinOptions = {}): Promise<void> {
  const { withRefund, without } = await twin(make, opts);
  assertSame(withRefund, without);
}

