/**
 * A stricter but shorter analyzer tighten written over an operator's milder, longer override (a
 * day-long 0.5 under a 10-minute 0.2) used to delete the field when it ended: the client went
 * untightened for the rest of the operator's day. The override it wrote over is now put back when
 * the tighten ends, and when its anomaly is dismissed (lifted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';

const NOW = 1_750_000_000_000;
const DAY = 86_400_000;
const C = 'ip:203.0.113.9';
const F = `*|${C}`;

test('the operator’s milder, longer override is back when the stricter tighten ends', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('override', F, { multiplier: 0.5, until: NOW + DAY, reason: 'noisy customer, by hand' });
  const actuator = new Actuator(plane);
  await actuator.apply(C, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  assert.equal((await plane.read()).overrides.get(F)!.multiplier, 0.2, 'the stricter tighten is in force');
  const ended = await actuator.expire(NOW + 600_001);
  assert.deepEqual(ended.map((a) => [a.kind, a.anomalyId]), [['tighten', 'A']]);
  const back = (await plane.read()).overrides.get(F);
  assert.ok(back, 'the field is not deleted');
  assert.equal(back.multiplier, 0.5);
  assert.equal(back.until, NOW + DAY);
  assert.equal(back.reason, 'noisy customer, by hand');
  assert.equal(back.anomalyId, undefined);
});

test('a dismissal (lift) of the tighten puts the operator’s override back too', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('override', F, { multiplier: 0.5, until: NOW + DAY, reason: 'by hand' });
  const actuator = new Actuator(plane);
  await actuator.apply(C, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  const lifted = await actuator.lift('A', NOW + 60_000);
  assert.deepEqual(lifted.map((l) => l.kind), ['tighten']);
  assert.equal((await plane.read()).overrides.get(F)?.multiplier, 0.5);
});

test('an override that ends before the tighten is not put back, and the analyzer’s own earlier value is not either', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('override', F, { multiplier: 0.5, until: NOW + 300_000, reason: 'short, by hand' });
  const actuator = new Actuator(plane);
  await actuator.apply(C, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW, 'anomaly A: x', 'A');
  await actuator.expire(NOW + 600_001);
  assert.equal((await plane.read()).overrides.get(F), undefined, 'deleted: nothing of someone else outlasted it');
  // the same anomaly tightening again (a later window) does not "restore" its own earlier value
  await actuator.apply(C, { kind: 'tighten', multiplier: 0.5, ttlMs: 3_600_000 }, NOW + 700_000, 'anomaly B: y', 'B');
  await actuator.apply(C, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW + 710_000, 'anomaly B: y', 'B');
  await actuator.expire(NOW + 4_400_000);
  assert.equal((await plane.read()).overrides.get(F), undefined);
});
