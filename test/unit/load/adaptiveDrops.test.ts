/**
 * Sparse failures are not overload. A window used to count as dropped on any one dropped request
 * in it, and each dropped window cuts the limit (gradient2 and aimd by about a tenth, vegas by
 * log10(limit)): against a busy, healthy upstream where 1 answer in 100 is a 502/503/504 for a
 * reason unrelated to load (one broken route, a flaky dependency behind one endpoint), nearly every
 * 100 ms window held one, and the limit collapsed to a fraction of what the upstream serves — the
 * sidecar then shed most of the lower tiers' traffic with 503s in front of a healthy upstream.
 * Now a window is dropped when at least 2 of its requests, and at least 5 % of them, were dropped;
 * an upstream that fails a real share of the requests still cuts the limit at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLimit } from '../../../sidecar/adaptive/createLimit.js';
import { WindowedLimit } from '../../../sidecar/adaptive/windowedLimit.js';
import type { ConcurrencyLimit } from '../../../sidecar/adaptive/limit.js';

/** A healthy upstream of `workers` workers of `serviceMs` each, `demand` requests wanting to be in flight; every `dropEvery`-th answer is dropped. Returns the limit after `n` requests. */
function run(strategy: 'gradient2' | 'vegas' | 'aimd', n: number, dropEvery: number, workers = 100, serviceMs = 20, demand = 80): number {
  const limit = createLimit({ strategy, minLimit: 4, maxLimit: 1_000, initialLimit: 20 });
  let t = 0;
  for (let i = 0; i < n; i++) {
    const inflight = Math.min(limit.getLimit(), demand);
    const rtt = serviceMs * Math.max(1, inflight / workers);
    t += rtt / inflight; // completions arrive inflight per rtt
    limit.onSample(rtt, inflight, dropEvery > 0 && i % dropEvery === 0, t);
  }
  return limit.getLimit();
}

for (const strategy of ['gradient2', 'vegas', 'aimd'] as const) {
  test(`${strategy}: one failure in 100 against a healthy, busy upstream does not collapse the limit`, () => {
    const healthy = run(strategy, 60_000, 0);
    assert.ok(healthy >= 80, `${strategy} without failures reached only ${healthy}`);
    const withFailures = run(strategy, 60_000, 100);
    assert.ok(withFailures >= 80, `${strategy} fell to ${withFailures} (healthy: ${healthy}): the sidecar would shed in front of a healthy upstream`);
  });

  test(`${strategy}: an upstream failing a real share of its requests still cuts the limit`, () => {
    const limit = createLimit({ strategy, minLimit: 4, maxLimit: 1_000, initialLimit: 200 });
    // windows of 20 requests at 100 in flight, a quarter of them failing
    for (let i = 0; i < 2_000; i++) limit.onSample(20, 100, i % 4 === 0, i * 5);
    assert.ok(limit.getLimit() < 100, `${strategy} stayed at ${limit.getLimit()}`);
  });
}

test('a window counts as dropped with at least 2 dropped requests and at least 5 % of them', () => {
  const drops: boolean[] = [];
  const inner: ConcurrencyLimit = { name: 'probe', getLimit: () => 10, onSample: (_rtt, _inflight, drop) => void drops.push(drop) };
  const w = new WindowedLimit(inner, { minWindowMs: 100, minSamples: 10, maxWindowMs: 1_000 });
  const window = (n: number, dropped: number, start: number): void => {
    for (let i = 0; i < n; i++) w.onSample(20, 5, i < dropped, start + (i === n - 1 ? 100 : 0));
  };
  window(10, 1, 0); // a single failure: an anecdote
  window(100, 4, 1_000); // 2 or more, but under 5 %
  window(100, 5, 2_000); // 5 %
  window(10, 2, 3_000); // 20 %
  window(3, 3, 4_000); // every one of a few (closed at maxWindowMs below)
  assert.deepEqual(drops, [false, false, true, true]);
  w.onSample(20, 5, false, 5_100);
  assert.deepEqual(drops, [false, false, true, true, true]);
});

test('aimd does not grow on a window without a measured answer (its one failure did not make it a dropped window)', async () => {
  const { AimdLimit } = await import('../../../sidecar/adaptive/aimdLimit.js');
  const limit = new AimdLimit({ minLimit: 4, maxLimit: 100, initialLimit: 20 });
  limit.onSample(0, 20, false, 0);
  assert.equal(limit.getLimit(), 20);
});
