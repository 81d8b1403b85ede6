/**
 * The load controllers on synthetic signals with an injected clock: tighten past a target, hold
 * near it, recover gradually after a delay, never leave [minMultiplier, 1], and say why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AimdController } from '../../../analyzer/load/aimdController.js';
import { GradientController } from '../../../analyzer/load/gradientController.js';
import { createController } from '../../../analyzer/load/createController.js';
import type { LoadSignals } from '../../../analyzer/load/loadWatcher.js';
import { describePressure, pressureOf } from '../../../analyzer/load/pressure.js';
import { loadPolicy } from './fixtures.js';

const config = loadPolicy().analyzer.load!;
const gradientConfig = loadPolicy('targets: { p99: 250ms, errorRate: 0.01 }\n    minMultiplier: 0.2\n    strategy: gradient').analyzer.load!;

function signals(p99Ms: number | null, errorRate = 0, count = 500, gauges: Record<string, number> = {}): LoadSignals {
  return { service: 'shop', windowMs: 2_000, at: 0, count, p50Ms: p99Ms === null ? null : p99Ms / 2, p99Ms, errorRate, tierDemand: {}, gauges };
}

test('AIMD multiplies by 0.8 for each interval past a target and stops at minMultiplier', () => {
  const c = new AimdController(config);
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) seen.push(c.update(signals(400), i * 1_000).multiplier);
  assert.deepEqual(seen.slice(0, 3), [0.8, 0.64, 0.512]);
  assert.equal(seen.at(-1), 0.2);
});

test('AIMD holds within the band just under the target', () => {
  const c = new AimdController(config);
  c.update(signals(400), 0);
  const step = c.update(signals(240), 10_000); // 0.96 of target
  assert.equal(step.action, 'hold');
  assert.equal(step.multiplier, 0.8);
});

test('recovery waits two intervals after the last tightening, then climbs by at most 0.05 per interval', () => {
  const c = new AimdController(config);
  for (let i = 0; i < 8; i++) c.update(signals(400), i * 1_000);
  assert.equal(c.multiplier, 0.2);
  const t = 7_000;
  assert.equal(c.update(signals(100), t + 1_000).action, 'hold', 'too soon after tightening');
  const path: number[] = [];
  for (let i = 2; i < 20; i++) path.push(c.update(signals(100), t + i * 1_000).multiplier);
  for (let i = 1; i < path.length; i++) assert.ok(path[i]! - path[i - 1]! <= 0.05 + 1e-9, `step ${path[i - 1]} → ${path[i]}`);
  assert.equal(path.at(-1), 1);
  assert.ok(path.indexOf(1) >= 15, 'from 0.2 to 1 takes at least 16 intervals');
});

test('the gradient controller cuts harder the further a signal is past its target', () => {
  const slight = new GradientController(gradientConfig);
  const far = new GradientController(gradientConfig);
  const a = slight.update(signals(275), 0).multiplier; // 1.1× target
  const b = far.update(signals(750), 0).multiplier; // 3× target
  assert.ok(a > 0.9 && a < 1, `slight ${a}`);
  assert.ok(b <= 0.75, `far ${b}`);
});

test('the gradient controller never more than halves the multiplier in one step', () => {
  const c = new GradientController(gradientConfig);
  assert.ok(c.update(signals(100_000), 0).multiplier >= 0.5);
});

test('without enough traffic to judge, controllers do not tighten and recover', () => {
  for (const c of [new AimdController(config), new GradientController(gradientConfig)]) {
    c.reset(0.5, 0);
    const step = c.update(signals(5_000, 0.5, 5), 10_000);
    assert.equal(step.action, 'recover');
    assert.ok(step.multiplier > 0.5);
    assert.match(step.reason, /too little traffic to judge \(5 requests/);
  }
});

test('the error ratio alone tightens when it passes its target', () => {
  const c = new AimdController(config);
  const step = c.update(signals(50, 0.031), 0);
  assert.equal(step.action, 'tighten');
  assert.equal(step.reason, '5xx 3.1% > target 1.0%');
});

test('the reason names every signal past its target, worst first', () => {
  const p = pressureOf(signals(412, 0.031), config);
  assert.equal(describePressure(p), '5xx 3.1% > target 1.0%; p99 412ms > 250ms');
  assert.equal(describePressure(pressureOf(signals(120, 0.002), config)), 'p99 120ms ≤ 250ms; 5xx 0.2% ≤ 1.0%');
});

test('policy gauges count with their upper targets', () => {
  const withGauges = loadPolicy('targets: { p99: 250ms }\n    metricsUrl: http://127.0.0.1:1/metrics\n    gauges: { queue_depth: 100 }').analyzer.load!;
  const p = pressureOf(signals(100, 0, 500, { queue_depth: 180 }), withGauges);
  assert.equal(p.value, 1.8);
  assert.equal(describePressure(p), 'queue_depth 180 > target 100');
});

test('the multiplier stays within [minMultiplier, 1] whatever the signals', () => {
  for (const c of [createController(config), createController(gradientConfig)]) {
    for (let i = 0; i < 200; i++) {
      const m = c.update(signals(i % 3 === 0 ? 10_000 : 10, i % 5 === 0 ? 1 : 0), i * 1_000).multiplier;
      assert.ok(m >= 0.2 && m <= 1, `${c.name}: ${m}`);
    }
  }
});

test('reset starts from a multiplier in force (a restart) and counts as a recent tightening', () => {
  const c = createController(config);
  c.reset(0.4, 50_000);
  assert.equal(c.multiplier, 0.4);
  assert.equal(c.update(signals(100), 51_000).action, 'hold');
  assert.equal(c.update(signals(100), 52_000).action, 'recover');
});

test('rounding never takes the multiplier under minMultiplier, nor to 0', () => {
  for (const min of [0.00123, 0.001, 0.0015, 0.00004]) {
    const c = createController({ ...config, minMultiplier: min });
    for (let i = 0; i < 60; i++) {
      const m = c.update(signals(10_000), i * 1_000).multiplier;
      assert.ok(m >= min && m > 0, `min ${min}: ${m}`);
    }
    assert.ok(c.multiplier > 0 && c.multiplier <= Math.max(min, 0.001) + 1e-4, `min ${min}: ends at ${c.multiplier}`);
  }
});

test('without a usable signal, the reason says why: too little traffic, no latency sample, no gauge value, no target', () => {
  assert.equal(describePressure(pressureOf(signals(null, 0.5, 5), config), 5), 'too little traffic to judge (5 requests in the window)');
  const p99Only = loadPolicy('targets: { p99: 250ms }').analyzer.load!;
  assert.equal(describePressure(pressureOf(signals(null, 0.5, 400), p99Only), 400), 'no latency sample among 400 forwarded requests');
  const gaugesOnly = loadPolicy('targets: {}\n    metricsUrl: http://127.0.0.1:1/metrics\n    gauges: { queue_depth: 100 }').analyzer.load!;
  const p = pressureOf(signals(900, 1, 300), gaugesOnly); // the scrape failed: no gauge value
  assert.equal(p.value, null);
  assert.equal(describePressure(p, 300), 'no value for queue_depth (scrape failed or not exposed); no latency or error target set');
  const none = { ...gaugesOnly, metricsUrl: null, gauges: {} }; // built by hand: validation refuses it
  assert.equal(describePressure(pressureOf(signals(900, 1, 300), none), 300), 'no latency, error or gauge target set');
  const step = createController(gaugesOnly).update(signals(900, 1, 300), 0);
  assert.doesNotMatch(step.reason, /too little traffic/);
});
