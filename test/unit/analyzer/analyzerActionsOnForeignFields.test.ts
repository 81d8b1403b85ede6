/**
 * End to end through the Analyzer: what it writes to the control plane never undoes what an
 * operator put there, and a client key that is not one client is never acted on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallEvent } from '../../../models/events.js';
import { ev } from './helpers.js';
import { drive, setupAnalyzer as setup } from './harness.js';

const stuffing = (client: string) => (t: number): CallEvent[] =>
  Array.from({ length: 15 }, (_, j) => ev({ ts: t + j * 60, client, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));

test('an operator’s day-long block outlives the analyzer’s 1-minute block of the same client, whose report still expires', async () => {
  const ATTACKER = 'ip:203.0.113.9';
  const s = setup(`analyzer:\n  actions:\n    - { minScore: 0.5, action: block, ttl: 1m }\n`);
  await drive(s, 180);
  const day = s.now + 86_400_000;
  await s.plane.write('block', ATTACKER, { until: day, reason: 'blocked by hand' });
  const r = (await drive(s, 20, stuffing(ATTACKER))).find((x) => x.client === ATTACKER)!;
  assert.ok(r, 'the attack is reported');
  await drive(s, 70);
  const block = (await s.plane.read()).blocks.get(ATTACKER);
  assert.ok(block, 'the client is still blocked');
  assert.equal(block.until, day);
  assert.equal(block.reason, 'blocked by hand');
  assert.equal((await s.reports.get(r.id))!.status, 'expired', 'the analyzer’s own block ended');
});

test('events under the client key `*` never become an override for every client', async () => {
  const s = setup(`analyzer:\n  actions:\n    - { minScore: 0.5, action: tighten, multiplier: 0.2, ttl: 10m }\n`);
  await drive(s, 180);
  await drive(s, 20, stuffing('*'));
  const state = await s.plane.read();
  assert.deepEqual([...state.overrides.keys()], []);
  assert.deepEqual([...state.blocks.keys()], []);
});
