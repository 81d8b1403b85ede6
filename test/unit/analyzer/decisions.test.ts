import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionEnded, approved, decide, dismissed, INITIAL_DECISION_STATE, matchActionRule, type DecisionConfig, type DecisionInput, type DecisionState } from '../../../analyzer/decisions/decide.js';
import { policy } from './helpers.js';

const ACTIONS = `analyzer:
  cooldown: 5m
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
    - { minScore: 0.7, action: tighten, multiplier: 0.2, ttl: 10m }
    - { minScore: 0.6, action: block, ttl: 1m, detector: key_sharing }
`;

function config(extra = ''): DecisionConfig {
  return { policy: policy(ACTIONS + extra).analyzer, openThreshold: 0.5, closeThreshold: 0.3, quietMs: 120_000, firedThreshold: 0.5 };
}

function input(score: number, now: number, over: Partial<DecisionInput> = {}): DecisionInput {
  return { now, score, detectors: { statistical: score }, sizeMs: 10_000, allowlisted: false, reportId: `r${now}`, ...over };
}

function run(scores: Array<[number, number]>, cfg = config(), start: DecisionState = INITIAL_DECISION_STATE) {
  let state = start;
  const outcomes = [];
  for (const [now, score] of scores) {
    const r = decide(state, input(score, now), cfg);
    state = r.state;
    outcomes.push(r.outcome);
  }
  return { state, outcomes };
}

test('below the open threshold nothing happens', () => {
  assert.deepEqual(run([[0, 0.49]]).outcomes, [{ kind: 'none' }]);
});

test('a score opens an episode with the first matching policy action', () => {
  const { outcomes, state } = run([[0, 0.75]]);
  assert.equal(outcomes[0]!.kind, 'open');
  assert.deepEqual(outcomes[0]!.kind === 'open' && outcomes[0]!.action, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000, rule: 1, apply: true, pending: false });
  assert.equal(state.episode!.until, 600_000);
  assert.deepEqual(state.lastAction, { kind: 'tighten', at: 0 });
});

test('an action rule naming a detector matches only when that detector fired', () => {
  const actions = config().policy.actions;
  assert.equal(matchActionRule(actions, 0.65, { statistical: 0.65 }, 0.5), null);
  assert.equal(matchActionRule(actions, 0.65, { key_sharing: 0.8 }, 0.5)!.index, 2);
});

test('hysteresis: the episode stays open through dips until no window reached the close threshold for quietMs', () => {
  const { outcomes } = run([
    [0, 0.6],
    [10_000, 0.2],
    [20_000, 0.35],
    [30_000, 0.2],
    [130_000, 0.2],
    [150_000, 0.2],
    [160_000, 0.6],
  ]);
  assert.deepEqual(outcomes.map((o) => o.kind), ['open', 'none', 'none', 'none', 'none', 'close', 'open']);
});

test('one report per episode: a higher score escalates tighten to block on the same report', () => {
  const { outcomes, state } = run([
    [0, 0.75],
    [10_000, 0.8],
    [20_000, 0.95],
  ]);
  assert.deepEqual(outcomes.map((o) => o.kind), ['open', 'update', 'escalate']);
  const esc = outcomes[2]!;
  assert.ok(esc.kind === 'escalate' && esc.reportId === 'r0' && esc.action.kind === 'block');
  assert.equal(state.episode!.action, 'block');
});

test('cool-down: after an action, the same kind is not applied again for cooldownMs', () => {
  const first = run([[0, 0.75], [10_000, 0.1], [200_000, 0.1]]);
  assert.equal(first.state.episode, null);
  const again = run([[210_000, 0.75]], config(), first.state);
  const o = again.outcomes[0]!;
  assert.ok(o.kind === 'open' && o.action.kind === 'observe' && o.action.heldBack === 'cooldown' && !o.action.apply);
  const later = run([[400_000, 0.75]], config(), first.state);
  assert.ok(later.outcomes[0]!.kind === 'open' && later.outcomes[0]!.action.apply);
});

test('a stronger action is not held back by the cool-down', () => {
  const first = run([[0, 0.75], [200_000, 0.1]]);
  const o = run([[210_000, 0.95]], config(), first.state).outcomes[0]!;
  assert.ok(o.kind === 'open' && o.action.kind === 'block' && o.action.apply);
});

test('allowlisted clients are reported but never acted on', () => {
  const r = decide(INITIAL_DECISION_STATE, input(0.99, 0, { allowlisted: true }), config());
  assert.ok(r.outcome.kind === 'open' && r.outcome.action.kind === 'observe' && r.outcome.action.heldBack === 'allowlisted');
  assert.equal(r.state.lastAction, null);
});

test('requireApproval keeps the action pending, and approval puts it in force', () => {
  const cfg = config('  requireApproval: true\n');
  const r = decide(INITIAL_DECISION_STATE, input(0.95, 0), cfg);
  assert.ok(r.outcome.kind === 'open' && r.outcome.action.pending && !r.outcome.action.apply && r.outcome.action.kind === 'block');
  assert.equal(r.state.episode!.pending, true);
  assert.equal(r.state.lastAction, null);
  const a = approved(r.state, 'block', 5_000, 605_000);
  assert.equal(a.episode!.applied, true);
  assert.deepEqual(a.lastAction, { kind: 'block', at: 5_000 });
});

test('after a dismissal nothing is acted on for the cool-down', () => {
  const opened = run([[0, 0.95]]).state;
  const d = dismissed(opened, 1_000, 300_000);
  const r = decide({ ...d, episode: null }, input(0.95, 60_000), config());
  assert.ok(r.outcome.kind === 'open' && r.outcome.action.heldBack === 'suppressed');
});

test('when an action ends while the anomaly goes on, the next anomalous window acts again', () => {
  // hot windows throughout (held back by the cool-down while the block is in force)
  const opened = run([[0, 0.95], [100_000, 0.95], [200_000, 0.95]]).state;
  const ended = actionEnded(opened);
  assert.equal(ended.episode!.applied, false);
  const r = decide(ended, input(0.95, 300_000), config());
  assert.ok(r.outcome.kind === 'escalate' && r.outcome.action.kind === 'block' && r.outcome.action.apply);
});

test('an action ends at its until even when nobody told this instance: the next anomalous window acts again', () => {
  // a block written by another instance before a rebalance, restored with its until still ahead;
  // that instance deleted the field at until, so nothing here calls actionEnded
  const hot: Array<[number, number]> = [];
  for (let t = 0; t < 600_000; t += 60_000) hot.push([t, 0.95]);
  const blocked = run(hot);
  assert.deepEqual(blocked.outcomes.map((o) => o.kind), ['open', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'none']);
  assert.ok(blocked.state.episode!.applied && blocked.state.episode!.until === 600_000);
  const r = decide(blocked.state, input(0.95, 600_000), config());
  assert.ok(r.outcome.kind === 'escalate' && r.outcome.reportId === 'r0' && r.outcome.action.kind === 'block' && r.outcome.action.apply, `got ${r.outcome.kind}`);
  assert.equal(r.state.episode!.until, 1_200_000);
});

test('a pending action is proposed again after its TTL, so an approval made elsewhere is looked up', () => {
  const cfg = config('  requireApproval: true\n');
  const hot: Array<[number, number]> = [];
  for (let t = 0; t <= 600_000; t += 60_000) hot.push([t, 0.95]);
  const { state, outcomes } = run(hot, cfg);
  const open = outcomes[0]!;
  assert.ok(open.kind === 'open' && open.action.pending);
  assert.ok(outcomes.slice(1, -1).every((o) => o.kind === 'none'), 'still pending: nothing new to ask');
  const again = outcomes.at(-1)!;
  assert.ok(again.kind === 'escalate' && again.reportId === 'r0' && again.action.pending && !again.action.apply);
  assert.equal(state.episode!.pending, true);
  assert.equal(state.episode!.until, 1_200_000);
});

test('a client that went silent ends its episode: a return days later opens a new episode and report', () => {
  const opened = run([[0, 0.95]]).state;
  const ended = actionEnded(opened); // its block expired meanwhile
  const later = 8 * 86_400_000;
  const r = decide(ended, input(0.95, later), config());
  assert.ok(r.outcome.kind === 'open', `got ${r.outcome.kind}`);
  assert.equal(r.outcome.kind === 'open' && r.outcome.closes, 'r0', 'the old report is closed');
  assert.equal(r.state.episode!.reportId, `r${later}`);
  assert.equal(r.state.episode!.openedAt, later);
  assert.ok(r.outcome.kind === 'open' && r.outcome.action.kind === 'block' && r.outcome.action.apply);
});

test('after a silence, a window between the close and open thresholds closes the episode rather than prolonging it', () => {
  const { outcomes, state } = run([[0, 0.6], [200_000, 0.4]]);
  assert.deepEqual(outcomes.map((o) => o.kind), ['open', 'close']);
  assert.equal(state.episode, null);
});
