/**
 * With requireApproval, an approved tighten stays in force while a stronger action of the same
 * episode (a block) waits for its own approval: the report is `pending` again, its action the
 * unapplied block. Dismissing it must still lift the approved tighten carrying its id (the one-click
 * undo), not leave the client tightened until the TTL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallEvent } from '../../../models/events.js';
import { operatorBackendFor } from '../../../analyzer/api/index.js';
import { ev } from './helpers.js';
import { drive, setupAnalyzer } from './harness.js';

const ATTACKER = 'ip:203.0.113.9';
const login = (t: number, n: number): CallEvent[] => Array.from({ length: n }, (_, j) => ev({ ts: t + j * Math.floor(1000 / n), client: ATTACKER, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));

test('dismissing a report whose stronger action waits for approval lifts the approved tighten of its episode', async () => {
  const s = setupAnalyzer(`analyzer:
  requireApproval: true
  cooldown: 30s
  actions:
    - { minScore: 0.5, detector: volumetric, action: block, ttl: 10m }
    - { minScore: 0.5, action: tighten, multiplier: 0.2, ttl: 10m }
`);
  const backend = operatorBackendFor(s.analyzer, { reports: s.reports, plane: s.plane, cooldownMs: 30_000, now: () => s.now });
  await drive(s, 180);
  // credential stuffing under the volumetric floor: a tighten, pending
  const r = (await drive(s, 20, (t) => login(t, 15))).find((x) => x.client === ATTACKER)!;
  assert.equal(r.status, 'pending');
  assert.equal(r.action.kind, 'tighten');
  await backend.act(r.id, 'approve', 'dana (admin)');
  assert.equal((await s.plane.read()).overrides.get(`*|${ATTACKER}`)?.anomalyId, r.id, 'the approved tighten is in force');

  // the same episode turns into a flood: the block waits for its own approval
  await drive(s, 40, (t) => login(t, 60));
  const escalated = (await s.reports.get(r.id))!;
  assert.equal(escalated.status, 'pending');
  assert.equal(escalated.action.kind, 'block');
  assert.equal(escalated.action.applied, false);
  assert.equal((await s.plane.read()).overrides.get(`*|${ATTACKER}`)?.anomalyId, r.id, 'the approved tighten is still in force');

  const dismissed = await backend.act(r.id, 'dismiss', 'dana (admin)');
  assert.equal(dismissed.status, 'dismissed');
  assert.equal((await s.plane.read()).overrides.has(`*|${ATTACKER}`), false, 'the tighten of the dismissed report is lifted');
  assert.ok(dismissed.history.some((h) => h.what === 'override removed'), 'and the lift is recorded');
});
