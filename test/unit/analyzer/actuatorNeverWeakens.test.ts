/**
 * An analyzer action never shortens or loosens what is already in force on its field: an operator's
 * day-long block (or another anomaly's longer one) is not replaced by a 10-minute block that the
 * analyzer then deletes at its end, and an operator's stricter override is not replaced by the
 * policy's milder multiplier. The analyzer's own action still ends at its `until` (so its report
 * expires), without deleting what it did not write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';

const NOW = 1_750_000_000_000;
const DAY = 86_400_000;
const C = 'ip:203.0.113.9';

test('a shorter analyzer block does not replace an operator’s longer block, nor end it', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('block', C, { until: NOW + DAY, reason: 'blocked by hand' });
  const actuator = new Actuator(plane);
  const applied = await actuator.apply(C, { kind: 'block', ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  assert.equal(applied.until, NOW + 600_000);
  assert.equal((await plane.read()).blocks.get(C)!.until, NOW + DAY, 'still blocked for the day');

  const ended = await actuator.expire(NOW + 600_001);
  assert.deepEqual(ended.map((a) => [a.kind, a.anomalyId]), [['block', 'A']], 'the analyzer’s block ended (its report can expire)');
  const block = (await plane.read()).blocks.get(C)!;
  assert.equal(block.until, NOW + DAY, 'the operator’s block is still in force');
  assert.equal(block.reason, 'blocked by hand');
  assert.equal(actuator.pending, 0);
});

test('a milder tighten does not replace a stricter override, nor end it', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('override', `*|${C}`, { multiplier: 0.01, until: NOW + DAY, reason: 'by hand' });
  const actuator = new Actuator(plane);
  await actuator.apply(C, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  assert.equal((await plane.read()).overrides.get(`*|${C}`)!.multiplier, 0.01);
  await actuator.expire(NOW + 600_001);
  const o = (await plane.read()).overrides.get(`*|${C}`)!;
  assert.equal(o.multiplier, 0.01);
  assert.equal(o.until, NOW + DAY);
});

test('an override with an absolute limit is not replaced by a multiplier', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('override', `*|${C}`, { limit: 0, until: NOW + DAY, reason: 'quarantine' });
  await new Actuator(plane).apply(C, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  assert.equal((await plane.read()).overrides.get(`*|${C}`)!.limit, 0);
});

test('a lift of the analyzer’s anomaly leaves the operator’s block alone and forgets the action', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('block', C, { until: NOW + DAY, reason: 'blocked by hand' });
  const actuator = new Actuator(plane);
  await actuator.apply(C, { kind: 'block', ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  assert.deepEqual(await actuator.lift('A'), []);
  assert.ok((await plane.read()).blocks.has(C));
  assert.deepEqual(await actuator.expire(NOW + 600_001), [], 'nothing of A is left to end');
});

test('an action that lasts longer or is stricter than what is in force still replaces it', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('block', C, { until: NOW + 60_000, reason: 'short', anomalyId: 'old' });
  await plane.write('override', `*|${C}`, { multiplier: 0.5, until: NOW + 60_000, reason: 'mild' });
  const actuator = new Actuator(plane);
  await actuator.apply(C, { kind: 'block', ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  await actuator.apply(C, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  const state = await plane.read();
  assert.equal(state.blocks.get(C)!.anomalyId, 'A');
  assert.equal(state.blocks.get(C)!.until, NOW + 600_000);
  assert.equal(state.overrides.get(`*|${C}`)!.multiplier, 0.2);
  // an expired value is no obstacle
  await plane.write('block', 'ip:10.0.0.1', { until: NOW - 1, reason: 'old', anomalyId: 'old' });
  await actuator.apply('ip:10.0.0.1', { kind: 'block', ttlMs: 600_000 }, NOW, 'anomaly B: x', 'B');
  assert.equal((await plane.read()).blocks.get('ip:10.0.0.1')!.anomalyId, 'B');
});
