/** The load experiment's figures (bench/load/figures.ts) on synthetic answers with known values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binAnswers, caseFigures, type Answer, type Step } from '../../../bench/load/figures.js';

const steps: Step[] = [
  { factor: 0.5, ratePerSec: 100, durationMs: 4_000, startMs: 0 },
  { factor: 3, ratePerSec: 600, durationMs: 6_000, startMs: 4_000 },
  { factor: 0.5, ratePerSec: 100, durationMs: 6_000, startMs: 10_000 },
];

/** 100/s unloaded at 20 ms; at 3×: enterprise and a third of free succeed, the rest is shed; slow (200 ms) for the first second; then it recovers after 2 s. */
function synthetic(): Answer[] {
  const out: Answer[] = [];
  for (let t = 0; t < 4_000; t += 10) out.push({ tier: t % 100 === 0 ? 'enterprise' : 'free', status: 200, latencyMs: 20, sentAt: t });
  for (let t = 4_000; t < 10_000; t += 10 / 6) {
    const i = Math.round((t - 4_000) * 0.6);
    const enterprise = i % 10 === 0;
    const ok = enterprise || i % 3 === 0;
    out.push({ tier: enterprise ? 'enterprise' : 'free', status: ok ? 200 : 503, latencyMs: t < 5_000 ? 200 : 30, sentAt: t });
  }
  for (let t = 10_000; t < 16_000; t += 10) out.push({ tier: 'free', status: t < 12_000 ? 503 : 200, latencyMs: 20, sentAt: t });
  return out;
}

test('goodput, p99, success per tier, reaction and recovery come out as constructed', () => {
  const f = caseFigures(synthetic(), steps, 250);
  assert.equal(f.unloaded_p99_ms, 20);
  assert.ok(f.goodput_rps > 235 && f.goodput_rps < 245, `goodput ${f.goodput_rps}`); // 10% enterprise + a third of the rest, of 600/s
  assert.equal(f.goodput_ratio, Math.round((f.goodput_rps / 250) * 1000) / 1000);
  assert.equal(f.p99_ms, 30);
  assert.equal(f.p99_ratio, 1.5);
  assert.equal(f.enterprise_success, 1);
  assert.ok(f.success.free! < 0.4);
  assert.equal(f.react_s, 1, 'p99 is back under 2× unloaded one second into the step');
  assert.equal(f.first_shed_s, 0);
  assert.equal(f.recovery_s, 2);
});

test('targets that never hold give null reaction and recovery', () => {
  const answers: Answer[] = [];
  for (let t = 0; t < 16_000; t += 10) answers.push({ tier: 'enterprise', status: t < 4_000 ? 200 : 503, latencyMs: 20, sentAt: t });
  const f = caseFigures(answers, steps, 250);
  assert.equal(f.react_s, null);
  assert.equal(f.recovery_s, null);
  assert.equal(f.enterprise_success, 0);
});

test('answers are binned by send time with per-tier counts', () => {
  const bins = binAnswers(
    [
      { tier: 'free', status: 200, latencyMs: 5, sentAt: 10 },
      { tier: 'free', status: 503, latencyMs: 1, sentAt: 20 },
      { tier: 'pro', status: null, latencyMs: 1, sentAt: 260 },
    ],
    500,
  );
  assert.equal(bins.length, 2);
  assert.deepEqual([bins[0]!.sent, bins[0]!.ok, bins[0]!.shed, bins[1]!.errors], [2, 1, 1, 1]);
  assert.deepEqual(bins[0]!.byTier.free, { sent: 2, ok: 1 });
});
