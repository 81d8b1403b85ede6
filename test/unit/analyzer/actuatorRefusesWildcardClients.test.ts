/**
 * The actuator acts on one client: a client key that is `*` (the control plane's "any client") or
 * empty or not `<part>:<value>` is refused, so an event carrying such a key can never turn into an
 * override `*|*` (every client of every rule tightened) or a stray block.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';

const NOW = 1_750_000_000_000;

for (const client of ['*', '', 'ip:', 'apiKey:00000000000000aa|*', 'global']) {
  test(`a tighten or block of client ${JSON.stringify(client)} is refused and writes nothing`, async () => {
    const plane = new MemoryControlPlane();
    const actuator = new Actuator(plane);
    await assert.rejects(actuator.apply(client, { kind: 'tighten', multiplier: 0.2, ttlMs: 60_000 }, NOW, 'anomaly x', 'x'));
    await assert.rejects(actuator.apply(client, { kind: 'block', ttlMs: 60_000 }, NOW, 'anomaly x', 'x'));
    const state = await plane.read();
    assert.deepEqual([...state.overrides.keys()], []);
    assert.deepEqual([...state.blocks.keys()], []);
    assert.equal(actuator.pending, 0);
  });
}

test('ordinary and composite client keys are still acted on', async () => {
  const plane = new MemoryControlPlane();
  const actuator = new Actuator(plane);
  await actuator.apply('apiKey:00000000000000aa|ip:10.0.0.1', { kind: 'tighten', multiplier: 0.2, ttlMs: 60_000 }, NOW, 'anomaly x', 'x');
  await actuator.apply('ip:10.0.0.2', { kind: 'block', ttlMs: 60_000 }, NOW, 'anomaly y', 'y');
  const state = await plane.read();
  assert.deepEqual([...state.overrides.keys()], ['*|apiKey:00000000000000aa|ip:10.0.0.1']);
  assert.deepEqual([...state.blocks.keys()], ['ip:10.0.0.2']);
});
