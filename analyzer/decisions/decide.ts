/**
 * The decision core, pure: given a client's decision state and one scored window, what happens —
 * nothing, a new report (an episode opens), an escalation, or the episode ends. No I/O, no clock
 * of its own; the analyzer applies the outcome.
 *
 * - Hysteresis: an episode opens at `openThreshold` and ends only after no window of the client
 *   scored `closeThreshold` or more for `quietMs`; one report per episode (escalations update it).
 * - Policy: `analyzer.actions`, first match wins (minScore, optional detector that must have fired).
 * - Cool-down: after an action on a client, no new action of the same or a weaker kind for
 *   `cooldownMs` (a stronger kind — tighten → block — applies at once); after an operator dismissed
 *   a report, no action at all for `cooldownMs`.
 * - Allowlisted clients are reported but never acted on; with `requireApproval` an action waits
 *   (status pending) until an operator approves it.
 * - An episode's action ends at its `until`, whoever deleted the field (the instance that wrote it
 *   may be another one since a rebalance). A pending action gets an `until` too (its TTL from when
 *   it was proposed): an approval made through another instance never reaches this one's state, so
 *   after that the next anomalous window proposes again and the analyzer re-reads the report.
 */
import type { ActionKind, ActionRule, AnalyzerConfig } from '../../models/policy/index.js';

export const STRENGTH: Readonly<Record<ActionKind, number>> = { observe: 0, tighten: 1, block: 2 };

export interface ProposedAction {
  readonly kind: ActionKind;
  readonly multiplier?: number;
  readonly ttlMs?: number;
  /** Index of the policy rule that matched, or -1. */
  readonly rule: number;
  /** Whether to write it to the control plane now (false: observe, pending approval, or held back). */
  readonly apply: boolean;
  readonly pending: boolean;
  /** Why the policy's action was not applied as is: allowlisted, cooldown, suppressed. */
  readonly heldBack?: 'allowlisted' | 'cooldown' | 'suppressed';
}

export interface Episode {
  readonly reportId: string;
  readonly openedAt: number;
  readonly maxScore: number;
  /** When a window last scored at or above the close threshold. */
  readonly lastHot: number;
  /** The action in force (or pending) for this episode. */
  readonly action: ActionKind;
  readonly applied: boolean;
  readonly pending: boolean;
  readonly until: number | null;
}

export interface DecisionState {
  readonly episode: Episode | null;
  /** Last action applied to this client: kind and when (for the cool-down). */
  readonly lastAction: { readonly kind: ActionKind; readonly at: number } | null;
  /** No action until this time (an operator dismissed a report). */
  readonly suppressedUntil: number;
}

export const INITIAL_DECISION_STATE: DecisionState = { episode: null, lastAction: null, suppressedUntil: 0 };

export interface DecisionInput {
  readonly now: number;
  readonly score: number;
  readonly detectors: Readonly<Record<string, number>>;
  readonly sizeMs: number;
  readonly allowlisted: boolean;
  /** Id the report gets if this window opens an episode. */
  readonly reportId: string;
}

export interface DecisionConfig {
  readonly policy: AnalyzerConfig;
  readonly openThreshold: number;
  readonly closeThreshold: number;
  readonly quietMs: number;
  readonly firedThreshold: number;
}

export type Outcome =
  | { readonly kind: 'none' }
  /** A new episode: create the report with this action; `closes`: the report of an episode that ended in silence before it. */
  | { readonly kind: 'open'; readonly action: ProposedAction; readonly closes?: string }
  /** A stronger action for the open episode's report. */
  | { readonly kind: 'escalate'; readonly action: ProposedAction; readonly reportId: string }
  /** The episode's score rose: refresh the report's details. */
  | { readonly kind: 'update'; readonly reportId: string }
  /** The episode ended (hysteresis satisfied). */
  | { readonly kind: 'close'; readonly reportId: string };

/** First matching policy rule: score ≥ minScore and, if it names a detector, that detector fired. */
export function matchActionRule(actions: readonly ActionRule[], score: number, detectors: Readonly<Record<string, number>>, firedThreshold: number): { rule: ActionRule; index: number } | null {
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i]!;
    if (score < a.minScore) continue;
    if (a.detector !== null && !((detectors[a.detector] ?? 0) >= firedThreshold)) continue;
    return { rule: a, index: i };
  }
  return null;
}

function propose(input: DecisionInput, state: DecisionState, cfg: DecisionConfig): ProposedAction {
  const match = matchActionRule(cfg.policy.actions, input.score, input.detectors, cfg.firedThreshold);
  if (!match || match.rule.action === 'observe') return { kind: 'observe', rule: match?.index ?? -1, apply: false, pending: false };
  const { rule, index } = match;
  const base = { kind: rule.action, ...(rule.multiplier !== null ? { multiplier: rule.multiplier } : {}), ttlMs: rule.ttlMs, rule: index };
  if (input.allowlisted) return { ...base, kind: 'observe', apply: false, pending: false, heldBack: 'allowlisted' };
  if (input.now < state.suppressedUntil) return { ...base, kind: 'observe', apply: false, pending: false, heldBack: 'suppressed' };
  const last = state.lastAction;
  if (last && input.now - last.at < cfg.policy.cooldownMs && STRENGTH[rule.action] <= STRENGTH[last.kind]) {
    return { ...base, kind: 'observe', apply: false, pending: false, heldBack: 'cooldown' };
  }
  if (cfg.policy.requireApproval) return { ...base, apply: false, pending: true };
  return { ...base, apply: true, pending: false };
}

/** When an action proposed at `now` ends: applied, at its TTL; pending, when it is looked at again (see above). */
function untilOf(action: ProposedAction, now: number): number | null {
  return (action.apply || action.pending) && action.ttlMs !== undefined ? now + action.ttlMs : null;
}

export function decide(state: DecisionState, input: DecisionInput, cfg: DecisionConfig): { state: DecisionState; outcome: Outcome } {
  // a score that is not a number is no evidence: NaN compares false with every threshold, and would
  // otherwise open an episode and match the first (strongest) action rule
  if (!(input.score >= 0 && input.score <= 1)) input = { ...input, score: Number.isNaN(input.score) ? 0 : Math.min(1, Math.max(0, input.score)) };
  // the action ran out: housekeeping ends it on the instance that wrote it, but since a rebalance
  // that may be another instance, and nothing else would tell this one
  if (state.episode && state.episode.until !== null && state.episode.until <= input.now) state = actionEnded(state);
  const ep = state.episode;
  // a client that went silent scored no window below the close threshold either: its episode ended
  // all the same, and a return (hours or days later) is a new episode with a new report
  const silent = ep !== null && input.now - ep.lastHot >= cfg.quietMs;
  if (!ep || silent) {
    const closed = ep ? { ...state, episode: null } : state;
    if (input.score < cfg.openThreshold) return ep ? { state: closed, outcome: { kind: 'close', reportId: ep.reportId } } : { state, outcome: { kind: 'none' } };
    const action = propose(input, closed, cfg);
    return {
      state: {
        ...closed,
        episode: { reportId: input.reportId, openedAt: input.now, maxScore: input.score, lastHot: input.now, action: action.pending || action.apply ? action.kind : 'observe', applied: action.apply, pending: action.pending, until: untilOf(action, input.now) },
        lastAction: action.apply ? { kind: action.kind, at: input.now } : state.lastAction,
      },
      outcome: { kind: 'open', action, ...(ep ? { closes: ep.reportId } : {}) },
    };
  }
  if (input.score < cfg.closeThreshold) return { state, outcome: { kind: 'none' } };
  const lastHot = input.now;
  const action = propose(input, state, cfg);
  const current = ep.applied || ep.pending ? STRENGTH[ep.action] : -1;
  if ((action.apply || action.pending) && STRENGTH[action.kind] > current) {
    const until = untilOf(action, input.now);
    return {
      state: {
        ...state,
        episode: { ...ep, lastHot, maxScore: Math.max(ep.maxScore, input.score), action: action.kind, applied: action.apply, pending: action.pending, until },
        lastAction: action.apply ? { kind: action.kind, at: input.now } : state.lastAction,
      },
      outcome: { kind: 'escalate', action, reportId: ep.reportId },
    };
  }
  // refresh the report when the score rose clearly (bounded writes: ≥ 0.05 above the last maximum)
  if (input.score >= ep.maxScore + 0.05) {
    return { state: { ...state, episode: { ...ep, lastHot, maxScore: input.score } }, outcome: { kind: 'update', reportId: ep.reportId } };
  }
  return { state: { ...state, episode: { ...ep, lastHot } }, outcome: { kind: 'none' } };
}

/** The action of the episode ended (TTL passed or removed by an operator): the episode stays, unactioned. */
export function actionEnded(state: DecisionState): DecisionState {
  if (!state.episode) return state;
  return { ...state, episode: { ...state.episode, action: 'observe', applied: false, pending: false, until: null } };
}

/**
 * An operator approved the pending action `kind` of report `reportId` at `now`, in force until
 * `until`. It becomes the episode's action only for that report's episode (given no `reportId`: the
 * open one), and never in place of a stronger action of the episode still in force (a block is not
 * downgraded to a tighten). It counts for the cool-down either way, except that it does not replace a
 * stronger last action still within `cooldownMs` (that one's cool-down would be cut short: a block
 * would apply again a minute after a block, once a tighten was approved in between).
 */
export function approved(state: DecisionState, kind: ActionKind, now: number, until: number, reportId?: string, cooldownMs = 0): DecisionState {
  const ep = state.episode;
  const takes = ep !== null && (reportId === undefined || ep.reportId === reportId) && !(ep.applied && STRENGTH[ep.action] > STRENGTH[kind] && (ep.until === null || ep.until > now));
  const last = state.lastAction;
  const keeps = last !== null && STRENGTH[last.kind] > STRENGTH[kind] && now - last.at < cooldownMs;
  return {
    ...state,
    episode: takes ? { ...ep, action: kind, applied: true, pending: false, until } : ep,
    lastAction: keeps ? last : { kind, at: now },
  };
}

/**
 * An operator dismissed report `reportId` at `now`: no action for the cool-down, and the action of
 * that report's episode (given no `reportId`: the open one) has ended. An older episode's report
 * leaves the open episode's action as it is (dismissing it lifted only that report's actions).
 */
export function dismissed(state: DecisionState, now: number, cooldownMs: number, reportId?: string): DecisionState {
  const own = reportId === undefined || state.episode?.reportId === reportId;
  return { ...(own ? actionEnded(state) : state), suppressedUntil: now + cooldownMs };
}
