/**
 * Shared scenarios: window algorithms with a fractional cost admit exactly limit / cost requests
 * when that is whole — float error in the running count (ten requests of 0.7 add up to
 * 7.000000000000001) must not refuse the last one. Run on memory (fractionalCost.test.ts) and on
 * Redis (test/integration/engine/fractionalCost.test.ts).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Engine } from '../../../sidecar/engine/index.js';
import { ManualClock, facts } from './helpers.js';

export function fractionalCostCases(make: (rule: string, clock: ManualClock) => Engine): void {
  for (const algorithm of ['fixed-window', 'sliding-window-log', 'sliding-window-counter']) {
    for (const [limit, cost] of [[7, 0.7], [9, 0.9], [3, 0.3]] as const) {
      it(`${algorithm}: limit ${limit} at cost ${cost} admits ${Math.round(limit / cost)} requests a window, not one fewer`, async () => {
        const clock = new ManualClock(1_700_000_040_000);
        const e = make(`{ id: r, key: [ip], algorithm: ${algorithm}, limit: ${limit}, window: 10s, cost: ${cost} }`, clock);
        const kinds: string[] = [];
        for (let i = 0; i < Math.round(limit / cost) + 1; i++) kinds.push((await e.decide(facts())).kind);
        assert.deepEqual(kinds, [...new Array(Math.round(limit / cost)).fill('allow'), 'limit']);
        await e.close();
      });
    }
  }
}
