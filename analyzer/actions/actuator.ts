/**
 * Actions reach sidecars through the control plane (DESIGN.md): a tighten is an override
 * `*|<client>` → {multiplier, until, reason, anomalyId}; a block is `<client>` → {until, reason,
 * anomalyId}. Every write goes through ControlPlane.write, which stores the hash field and
 * publishes the change on the channel. `until` makes each action end by itself even if the
 * analyzer dies; while alive, the analyzer also deletes expired fields so the hashes stay small.
 */
import { parseClientKey } from '../../models/clientKey.js';
import { ANY, overrideField, parseOverrideField, type BlockValue, type OverrideValue } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import { sidecarPartOrder } from '../clientKeyOrder.js';

export type ActiveKind = 'tighten' | 'block';

export interface ActiveAction {
  readonly kind: ActiveKind;
  readonly client: string;
  /** The control-plane field (`*|<client>` for a tighten, `<client>` for a block). */
  readonly field: string;
  /** The rule an override applies to (`*` for any); absent for blocks. */
  readonly rule?: string;
  readonly until: number;
  readonly reason: string;
  readonly anomalyId?: string;
  readonly multiplier?: number;
  readonly limit?: number;
  /**
   * A tighten only: someone else's milder override that outlasts this action and that this action
   * wrote over (an operator's day-long 0.5 under the analyzer's 10-minute 0.2). Put back when this
   * action ends or is lifted, instead of leaving the client untightened (this instance's memory: lost
   * at a restart, when the field is deleted as before).
   */
  readonly replaced?: Omit<OverrideValue, 'seq'>;
}

export interface ActionRequest {
  readonly kind: ActiveKind;
  readonly multiplier?: number;
  readonly ttlMs: number;
}

function key(kind: ActiveKind, field: string): string {
  return `${kind}\u0000${field}`;
}

/**
 * An action of this instance, per anomaly: a newer anomaly's action written over the same field
 * (after the cool-down) does not make the older one's end go unnoticed (its report would stay
 * `actioned` for good); the older one ends at its own `until`, deleting nothing it no longer holds.
 */
function mineKey(a: Pick<ActiveAction, 'kind' | 'field' | 'anomalyId'>): string {
  return `${key(a.kind, a.field)}\u0000${a.anomalyId ?? ''}`;
}

/**
 * Whether `client` names one client the analyzer may act on: `<part>:<value>` pieces joined by `|`,
 * none of them empty or `*`. The control plane reads `*` as "any client" (an override `*|*`
 * tightens every client of every rule), so a key like `*`, an empty one or one with a `*` part —
 * which no sidecar sends, but a Kafka event can carry — is never acted on.
 */
export function actionableClient(client: string): boolean {
  const parts = parseClientKey(client);
  return parts !== null && parts.every(([name, value]) => name !== ANY && value.length > 0 && value !== ANY);
}

/**
 * Whether `current` (the value in force on the field at `now`, if any) already does at least what
 * the requested action would, for at least as long: then writing the request would shorten or
 * loosen it (an operator's day-long block replaced by a 10-minute one that the analyzer deletes at
 * its end; a stricter override or an absolute `limit` replaced by a milder multiplier).
 */
function covers(current: BlockValue | OverrideValue | undefined, kind: ActiveKind, until: number, multiplier: number, now: number): boolean {
  if (!current || current.until <= now || current.until < until) return false;
  if (kind === 'block') return true;
  const o = current as OverrideValue;
  return o.limit !== undefined || (o.multiplier !== undefined && o.multiplier <= multiplier);
}

function withoutSeq(v: OverrideValue): Omit<OverrideValue, 'seq'> {
  const { seq: _seq, ...rest } = v;
  return rest;
}

/** The field the analyzer's own action of `kind` on `client` lives in (a hybrid key's parts in the sidecars' order, as the operator API writes it). */
export function actionField(kind: ActiveKind, client: string): string {
  const key = sidecarPartOrder(client);
  return kind === 'block' ? key : overrideField(ANY, key);
}

/** A block or override removed by liftAnomaly. */
export interface LiftedAction {
  readonly kind: ActiveKind;
  readonly field: string;
}

/**
 * Lifts everything anomaly `anomalyId` put in place — every block and override carrying its id,
 * never a newer one set for another anomaly or by an operator. Every kind, not only the report's
 * action: an escalated report's tighten stays in force under its block, and the undo must undo
 * both. An operator's dismissal (api/analyzerBackend.ts) and a policy reload that allowlists the
 * client (Analyzer.setPolicy) lift through this. Returns what was removed.
 */
export async function liftAnomaly(plane: ControlPlane, anomalyId: string): Promise<LiftedAction[]> {
  const state = await plane.read();
  const lifted: LiftedAction[] = [];
  for (const [field, v] of state.blocks) {
    if (v.anomalyId !== anomalyId) continue;
    await plane.write('block', field, null);
    lifted.push({ kind: 'block', field });
  }
  for (const [field, v] of state.overrides) {
    if (v.anomalyId !== anomalyId) continue;
    await plane.write('override', field, null);
    lifted.push({ kind: 'tighten', field });
  }
  return lifted;
}

/** The history entry for what liftAnomaly removed: `unblocked`, `override removed`, or both; null when nothing. */
export function describeLifted(lifted: readonly LiftedAction[]): string | null {
  const what: string[] = [];
  if (lifted.some((a) => a.kind === 'block')) what.push('unblocked');
  if (lifted.some((a) => a.kind === 'tighten')) what.push('override removed');
  return what.length > 0 ? what.join(', ') : null;
}

/**
 * How often expired fields written by anyone else — an earlier incarnation of this analyzer that was
 * killed, another instance, an operator — are deleted too (and once at the first expiry run after
 * start). Sidecars ignore them anyway (`until` is honoured locally); this keeps the hashes from
 * growing across restarts and lets the reports they came from end as `expired`.
 */
export const SWEEP_EVERY_MS = 30_000;

export class Actuator {
  /** Actions this instance wrote and will delete at expiry (bounded by the number of actions taken). */
  private readonly mine = new Map<string, ActiveAction>();
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(private readonly controlPlane: ControlPlane) {}

  /**
   * Puts `req` in force on `client` until `now + ttlMs`. Refused (throws) for a client key that is not
   * one client (actionableClient). When the field already holds a value in force that does at least
   * as much for at least as long (an operator's longer block, a stricter or absolute override), it
   * is left as it is: the action is in force through it, and ends at its own `until` without
   * deleting what it did not write (expire).
   */
  async apply(client: string, req: ActionRequest, now: number, reason: string, anomalyId?: string): Promise<ActiveAction> {
    if (!actionableClient(client)) throw new RangeError(`refusing to act on client key ${JSON.stringify(client.slice(0, 100))}: not one client (<part>:<value> joined by |, no *)`);
    const until = now + req.ttlMs;
    const why = reason.slice(0, 1000);
    const multiplier = req.multiplier ?? 0.5;
    const field = actionField(req.kind, client);
    const state = await this.controlPlane.read();
    const current = req.kind === 'block' ? state.blocks.get(field) : state.overrides.get(field);
    const kept = covers(current, req.kind, until, multiplier, now);
    let action: ActiveAction;
    if (req.kind === 'block') {
      action = { kind: 'block', client, field, until, reason: why, ...(anomalyId ? { anomalyId } : {}) };
      if (!kept) await this.controlPlane.write('block', field, { until, reason: why, ...(anomalyId ? { anomalyId } : {}) });
    } else {
      const o = current as OverrideValue | undefined;
      // a milder override of someone else that outlasts this one: written over now, put back at the end
      const replaced = !kept && o !== undefined && o.until > until && (o.anomalyId === undefined || o.anomalyId !== anomalyId) ? withoutSeq(o) : undefined;
      action = { kind: 'tighten', client, field, rule: ANY, until, reason: why, multiplier, ...(anomalyId ? { anomalyId } : {}), ...(replaced ? { replaced } : {}) };
      if (!kept) await this.controlPlane.write('override', field, { multiplier, until, reason: why, ...(anomalyId ? { anomalyId } : {}) });
    }
    this.mine.set(mineKey(action), action);
    return action;
  }

  /** Removes every block and override of `client` (whoever wrote them); returns what was removed. */
  async remove(client: string, kinds: readonly ActiveKind[] = ['block', 'tighten']): Promise<ActiveAction[]> {
    const active = (await this.list(0)).filter((a) => a.client === client && kinds.includes(a.kind));
    for (const a of active) {
      await this.controlPlane.write(a.kind === 'block' ? 'block' : 'override', a.field, null);
      for (const [k, m] of this.mine) if (m.kind === a.kind && m.field === a.field) this.mine.delete(k);
    }
    return active;
  }

  /**
   * Lifts everything anomaly `anomalyId` put in place (liftAnomaly) and forgets what of it this
   * instance wrote, so its expiry does not end it a second time. Returns what was removed.
   */
  async lift(anomalyId: string, now = Date.now()): Promise<LiftedAction[]> {
    const lifted = await liftAnomaly(this.controlPlane, anomalyId);
    // also its actions in force through a value it did not write (apply kept it): nothing of it is left;
    // an override it wrote over is put back
    for (const [k, a] of this.mine) {
      if (a.anomalyId !== anomalyId) continue;
      this.mine.delete(k);
      if (a.replaced && a.replaced.until > now && lifted.some((l) => l.kind === 'tighten' && l.field === a.field)) await this.controlPlane.write('override', a.field, a.replaced);
    }
    return lifted;
  }

  /**
   * Takes back an action `apply` returned, if its field still holds it (not rewritten since by anyone):
   * the analyzer lost the race with an operator's dismissal. True when it was removed.
   */
  async withdraw(action: ActiveAction): Promise<boolean> {
    if (this.mine.get(mineKey(action)) === action) this.mine.delete(mineKey(action));
    const state = await this.controlPlane.read();
    const current = action.kind === 'block' ? state.blocks.get(action.field) : state.overrides.get(action.field);
    if (!current || current.until !== action.until || current.anomalyId !== action.anomalyId) return false;
    await this.controlPlane.write(action.kind === 'block' ? 'block' : 'override', action.field, null);
    return true;
  }

  /**
   * Deletes the fields this instance wrote whose `until` has passed (unless rewritten since), and
   * every SWEEP_EVERY_MS any other block or override whose `until` has passed.
   */
  async expire(now: number): Promise<ActiveAction[]> {
    const due = [...this.mine.values()].filter((a) => a.until <= now);
    const sweep = now - this.lastSweep >= SWEEP_EVERY_MS;
    if (due.length === 0 && !sweep) return [];
    const state = await this.controlPlane.read();
    if (sweep) this.lastSweep = now;
    const expired: ActiveAction[] = [];
    const deleted = new Set<string>();
    for (const a of due) {
      this.mine.delete(mineKey(a));
      const current = a.kind === 'block' ? state.blocks.get(a.field) : state.overrides.get(a.field);
      if (current && current.until > now) {
        // rewritten with a later end by this anomaly (another instance): still in force. Another
        // writer's value (an operator's, another anomaly's, or one apply kept) stays, but this action ended
        if (current.anomalyId === undefined || current.anomalyId !== a.anomalyId) expired.push(a);
        continue;
      }
      // two anomalies' actions on one field can end together: the field is deleted once; an override
      // this action wrote over that is still in force is put back instead
      if (current && !deleted.has(key(a.kind, a.field))) {
        if (a.replaced && a.replaced.until > now) await this.controlPlane.write('override', a.field, a.replaced);
        else await this.controlPlane.write(a.kind === 'block' ? 'block' : 'override', a.field, null);
      }
      deleted.add(key(a.kind, a.field));
      expired.push(a);
    }
    if (!sweep) return expired;
    const handled = new Set(due.map((a) => key(a.kind, a.field)));
    for (const a of this.mine.values()) handled.add(key(a.kind, a.field));
    for (const [field, v] of state.blocks) {
      if (v.until > now || handled.has(key('block', field))) continue;
      await this.controlPlane.write('block', field, null);
      expired.push({ kind: 'block', client: field, field, until: v.until, reason: v.reason, ...(v.anomalyId ? { anomalyId: v.anomalyId } : {}) });
    }
    for (const [field, v] of state.overrides) {
      const parsed = parseOverrideField(field);
      if (v.until > now || !parsed || handled.has(key('tighten', field))) continue;
      await this.controlPlane.write('override', field, null);
      expired.push({ kind: 'tighten', client: parsed.client, field, rule: parsed.ruleId, until: v.until, reason: v.reason, ...(v.anomalyId ? { anomalyId: v.anomalyId } : {}) });
    }
    return expired;
  }

  /** Actions in force now, from the control plane (all writers, not only this instance). */
  async list(now: number): Promise<ActiveAction[]> {
    const state = await this.controlPlane.read();
    const out: ActiveAction[] = [];
    for (const [field, v] of state.blocks) {
      if (v.until <= now) continue;
      out.push({ kind: 'block', client: field, field, until: v.until, reason: v.reason, ...(v.anomalyId ? { anomalyId: v.anomalyId } : {}) });
    }
    for (const [field, v] of state.overrides) {
      if (v.until <= now) continue;
      const parsed = parseOverrideField(field);
      if (!parsed) continue;
      out.push({
        kind: 'tighten',
        client: parsed.client,
        field,
        rule: parsed.ruleId,
        until: v.until,
        reason: v.reason,
        ...(v.anomalyId ? { anomalyId: v.anomalyId } : {}),
        ...(v.multiplier !== undefined ? { multiplier: v.multiplier } : {}),
        ...(v.limit !== undefined ? { limit: v.limit } : {}),
      });
    }
    return out.sort((a, b) => a.until - b.until);
  }

  /** Actions this instance wrote and has not seen end (for the expiry sweep and metrics). */
  get pending(): number {
    return this.mine.size;
  }
}
