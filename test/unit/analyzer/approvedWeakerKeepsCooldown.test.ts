/**
 * An operator's approval counts for the cool-down, but an approved action weaker than one applied
 * within the cool-down does not replace it as the client's last action: a block applied a minute
 * ago keeps a new block back for the rest of its cool-down, whatever tighten was approved since.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approved, decide, INITIAL_DECISION_STATE, type DecisionConfig, type DecisionState } from '../../../analyzer/decisions/decide.js';
import { policy } from './helpers.js';

const cfg: DecisionConfig = {
  policy: policy(`analyzer:
  cooldown: 5m
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
    - { minScore: 0.7, action: tighten, multiplier: 0.2, ttl: 10m }
`).analyzer,
  openThreshold: 0.5,
  closeThreshold: 0.3,
  quietMs: 120_000,
  firedThreshold: 0.5,
};
const COOLDOWN = cfg.policy.cooldownMs;

function blockedAt(t: number): DecisionState {
  const r = decide(INITIAL_DECISION_STATE, { now: t, score: 0.95, detectors: { statistical: 0.95 }, sizeMs: 10_000, allowlisted: false, reportId: 'r-block' }, cfg);
  assert.equal(r.outcome.kind === 'open' && r.outcome.action.apply && r.outcome.action.kind, 'block');
  return r.state;
}

test('approving a tighten a minute after a block does not let a new block through before the block’s cool-down ends', () => {
  // the block's episode ended in silence; an older report's pending tighten is approved at 1 min
  let state: DecisionState = { ...blockedAt(0), episode: null };
  state = approved(state, 'tighten', 60_000, 660_000, 'r-older', COOLDOWN);
  const early = decide(state, { now: 120_000, score: 0.95, detectors: { statistical: 0.95 }, sizeMs: 10_000, allowlisted: false, reportId: 'r-new' }, cfg);
  assert.equal(early.outcome.kind, 'open');
  assert.equal(early.outcome.kind === 'open' && early.outcome.action.heldBack, 'cooldown', 'a block at 2 min is within the 5 min cool-down of the block at 0');
  assert.deepEqual(state.lastAction, { kind: 'block', at: 0 });
});

test('an approval of the same or a stronger kind, or after the cool-down, is the last action', () => {
  const base: DecisionState = { ...blockedAt(0), episode: null };
  assert.deepEqual(approved(base, 'block', 60_000, 660_000, 'x', COOLDOWN).lastAction, { kind: 'block', at: 60_000 });
  assert.deepEqual(approved(base, 'tighten', COOLDOWN, COOLDOWN + 600_000, 'x', COOLDOWN).lastAction, { kind: 'tighten', at: COOLDOWN });
  const tightened: DecisionState = { ...INITIAL_DECISION_STATE, lastAction: { kind: 'tighten', at: 0 } };
  assert.deepEqual(approved(tightened, 'block', 60_000, 660_000, 'x', COOLDOWN).lastAction, { kind: 'block', at: 60_000 });
});
