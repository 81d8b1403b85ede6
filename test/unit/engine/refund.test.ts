/**
 * verdict.refund on the memory store: a request given back (its upstream never answered) leaves
 * every algorithm's budget exactly as if it had never been admitted. Each test runs two engines on
 * the same clock through the same requests, one of them with an extra request that is refunded, and
 * compares every later outcome.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type Engine } from '../../../sidecar/engine/index.js';
import { ManualClock, facts, oneRule, policy } from './helpers.js';
import { assertAsIfNeverHappened } from './refundTwin.js';

function memoryTwin(rule: string, full?: string): (clock: ManualClock) => [Engine, Engine] {
  const p = full !== undefined ? policy(full) : oneRule(rule);
  return (clock) => [createEngine({ policy: p, service: 's', clock }), createEngine({ policy: p, service: 's', clock })];
}

describe('verdict.refund (memory store)', () => {
  it('gives a fixed window its unit back in the window that was charged', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: fixed-window, limit: 5, window: 1s }'));
  });

  it('changes nothing in a later fixed window when the charged one has ended', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: fixed-window, limit: 5, window: 1s }'), { refundAfterMs: 1_000, between: true });
  });

  it('removes the sliding window log entry the request added', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: sliding-window-log, limit: 5, window: 1s }'), { between: true, later: 10, stepMs: 150 });
  });

  it('gives a sliding window counter its unit back in the current window', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: sliding-window-counter, limit: 5, window: 1s }'));
  });

  it('gives a sliding window counter its unit back in the previous window once the charged one has rolled over', async () => {
    // refunded 900 ms later: the charged window is now the previous one, and still weighs in the estimate
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: sliding-window-counter, limit: 5, window: 1s }'), { refundAfterMs: 900, between: true, later: 10, stepMs: 50 });
  });

  it('gives a token bucket its token back', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 4 }'), { before: 2, between: true, later: 10, stepMs: 20 });
  });

  it('gives a token bucket back no more than its burst', async () => {
    const clock = new ManualClock();
    const e = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 3 }'), service: 's', clock });
    const v = await e.decide(facts());
    clock.advance(10_000); // the bucket is full again
    v.refund!();
    const after: string[] = [];
    for (let i = 0; i < 5; i++) after.push((await e.decide(facts())).kind);
    assert.deepEqual(after, ['allow', 'allow', 'allow', 'limit', 'limit']);
  });

  it('drains a leaky bucket by the request it admitted', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: leaky-bucket, rate: 10/s, burst: 4 }'), { before: 3, later: 10, stepMs: 20 });
  });

  it('gives a queued leaky bucket request its place back', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: leaky-bucket, rate: 10/s, burst: 1, mode: queue, maxDelay: 1s }'), { before: 2, later: 10, stepMs: 20 });
  });

  it('releases a concurrency lease, and release after the refund is a no-op', async () => {
    await assertAsIfNeverHappened(memoryTwin('{ id: r, key: [ip], algorithm: concurrency, limit: 3, timeout: 30s }'), { before: 2, later: 3, release: true });
  });

  it('gives back every rule of the request, countRejected rules included', async () => {
    await assertAsIfNeverHappened(
      memoryTwin(
        '',
        `rules:
  - { id: a, key: [ip], algorithm: fixed-window, limit: 6, window: 1m, countRejected: true }
  - { id: b, key: [ip], algorithm: token-bucket, rate: 1/s, burst: 5 }
  - { id: c, key: [ip], algorithm: sliding-window-log, limit: 7, window: 1m }
  - { id: d, key: [ip], algorithm: concurrency, limit: 4, timeout: 1m }
`,
      ),
      { later: 8 },
    );
  });

  it('offers no refund on a rejected request', async () => {
    const e: Engine = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 1, window: 1m }'), service: 's', clock: new ManualClock() });
    assert.equal(typeof (await e.decide(facts())).refund, 'function');
    assert.equal((await e.decide(facts())).refund, undefined);
  });

  it('refunds a concurrency lease that was already released only once', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: concurrency, limit: 1, timeout: 30s }'), service: 's', clock: new ManualClock() });
    const a = await e.decide(facts());
    a.release!();
    const b = await e.decide(facts());
    assert.equal(b.kind, 'allow');
    a.refund!(); // must not free b's lease
    assert.equal((await e.decide(facts())).kind, 'limit');
  });
});
