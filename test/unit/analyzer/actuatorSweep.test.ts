/**
 * Expired control-plane fields that this analyzer instance did not write — a killed earlier
 * incarnation's, another instance's, an operator's — are deleted by the expiry sweep (at the first
 * run after start, then every SWEEP_EVERY_MS), so they do not pile up across restarts. Fields still
 * in force are never touched. (The process-level proof is test/chaos/analyzerRestart.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Actuator, SWEEP_EVERY_MS } from '../../../analyzer/actions/actuator.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';

const NOW = 1_750_000_000_000;

test('the first expiry run deletes expired blocks and overrides written by someone else and keeps the live ones', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('block', 'ip:10.0.0.1', { until: NOW - 1, reason: 'old incarnation', anomalyId: 'a-1' });
  await plane.write('block', 'ip:10.0.0.2', { until: NOW + 60_000, reason: 'still in force' });
  await plane.write('override', '*|ip:10.0.0.3', { multiplier: 0.2, until: NOW - 1, reason: 'old' });
  await plane.write('override', 'r|*', { limit: 5, until: NOW + 60_000, reason: 'operator' });

  const expired = await new Actuator(plane).expire(NOW);
  const state = await plane.read();
  assert.deepEqual([...state.blocks.keys()], ['ip:10.0.0.2']);
  assert.deepEqual([...state.overrides.keys()], ['r|*']);
  assert.deepEqual(
    expired.map((a) => [a.kind, a.client, a.anomalyId ?? null]),
    [
      ['block', 'ip:10.0.0.1', 'a-1'],
      ['tighten', 'ip:10.0.0.3', null],
    ],
  );
});

test('between sweeps, foreign fields are left alone; the next sweep takes them', async () => {
  const plane = new MemoryControlPlane();
  const actuator = new Actuator(plane);
  await actuator.expire(NOW); // first sweep: nothing there yet
  await plane.write('block', 'ip:10.0.0.9', { until: NOW + 1_000, reason: 'short' });
  assert.deepEqual(await actuator.expire(NOW + 2_000), []);
  assert.ok((await plane.read()).blocks.has('ip:10.0.0.9'));
  assert.equal((await actuator.expire(NOW + SWEEP_EVERY_MS)).length, 1);
  assert.equal((await plane.read()).blocks.size, 0);
});
