import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseFigures, type Answer, type Step } from '../../../bench/load/figures.js';

// the full plan's shape: 0.5×, then 3×, then 1× for 5 s, then 0.5× to the end
const steps: Step[] = [
  { factor: 0.5, ratePerSec: 50, durationMs: 8_000, startMs: 0 },
  { factor: 3, ratePerSec: 300, durationMs: 15_000, startMs: 8_000 },
  { factor: 1, ratePerSec: 100, durationMs: 5_000, startMs: 23_000 },
  { factor: 0.5, ratePerSec: 50, durationMs: 12_000, startMs: 28_000 },
];

function answers(failFrom: number, failTo: number): Answer[] {
  const out: Answer[] = [];
  for (let t = 0; t < 40_000; t += 20) {
    for (const tier of ['free', 'pro', 'enterprise']) {
      const failing = tier === 'free' && t >= failFrom && t < failTo;
      out.push({ tier, status: failing ? 503 : 200, latencyMs: 10, sentAt: t });
    }
  }
  return out;
}

test('recovery is timed from the end of the overload, through the 1× step, not from the last step', () => {
  // free keeps being shed for 3 s after the 3× step ends: recovery ≈ 3 s (windows step by 250 ms)
  const f = caseFigures(answers(8_000, 26_000), steps, 100);
  assert.ok(f.recovery_s !== null && f.recovery_s >= 2.75 && f.recovery_s <= 3.25, String(f.recovery_s));
  // a tier shed until the very last step starts: still 5 s, where timing from that step said 0
  const late = caseFigures(answers(8_000, 28_000), steps, 100);
  assert.ok(late.recovery_s !== null && late.recovery_s >= 4.75 && late.recovery_s <= 5.25, String(late.recovery_s));
});
