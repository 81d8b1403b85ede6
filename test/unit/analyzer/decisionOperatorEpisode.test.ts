/**
 * An operator's decision on a report reaches the decision state of that report's episode only:
 * approving or dismissing an older report (its episode ended, a new one is open since) does not
 * rewrite the action of the episode now open, and an approval never downgrades the episode's block
 * in force to a tighten.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approved, dismissed, type DecisionState } from '../../../analyzer/decisions/decide.js';

const NOW = 1_750_000_000_000;

const blocking: DecisionState = {
  episode: { reportId: 'B', openedAt: NOW - 60_000, maxScore: 0.95, lastHot: NOW - 10_000, action: 'block', applied: true, pending: false, until: NOW + 540_000 },
  lastAction: { kind: 'block', at: NOW - 60_000 },
  suppressedUntil: 0,
};

test('approving a tighten never downgrades the episode’s block in force', () => {
  const s = approved(blocking, 'tighten', NOW, NOW + 600_000);
  assert.equal(s.episode!.action, 'block');
  assert.equal(s.episode!.applied, true);
  assert.equal(s.episode!.until, NOW + 540_000);
});

test('approving an older episode’s report leaves the open episode’s action as it is', () => {
  const observing: DecisionState = { ...blocking, episode: { ...blocking.episode!, action: 'observe', applied: false, until: null }, lastAction: null };
  const s = approved(observing, 'tighten', NOW, NOW + 600_000, 'A');
  assert.deepEqual(s.episode, observing.episode);
  assert.deepEqual(s.lastAction, { kind: 'tighten', at: NOW }, 'the approved action counts for the cool-down');
  // the episode's own report: its action is in force
  const own = approved({ ...observing, episode: { ...observing.episode!, action: 'tighten', pending: true, until: NOW + 1_000 } }, 'tighten', NOW, NOW + 600_000, 'B');
  assert.equal(own.episode!.applied, true);
  assert.equal(own.episode!.until, NOW + 600_000);
});

test('dismissing an older episode’s report suppresses actions but does not end the open episode’s block', () => {
  const s = dismissed(blocking, NOW, 300_000, 'A');
  assert.equal(s.suppressedUntil, NOW + 300_000);
  assert.deepEqual(s.episode, blocking.episode);
  const own = dismissed(blocking, NOW, 300_000, 'B');
  assert.equal(own.episode!.applied, false);
  assert.equal(own.episode!.action, 'observe');
});
