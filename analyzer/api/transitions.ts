/**
 * What an operator decision does to a report, as a pure function: the new status, the history
 * entry, and which control-plane change it implies. Backends carry the change out.
 *
 *   confirm  open|actioned|expired → confirmed   (a true positive; the action stays)
 *   dismiss  open|pending|actioned|confirmed|expired → dismissed
 *            (a false positive; a block/override it applied is lifted — the one-click undo — also
 *            when its action now waits for approval but an earlier one of it was put in force)
 *   approve  pending → actioned                  (apply the action that waited for an operator)
 */
import { PUT_IN_FORCE, type AnomalyReport, type AnomalyStatus, type HistoryEntry } from '../../models/anomaly.js';
import type { OperatorAction } from './backend.js';

const ALLOWED: Record<OperatorAction, readonly AnomalyStatus[]> = {
  confirm: ['open', 'actioned', 'expired'],
  dismiss: ['open', 'pending', 'actioned', 'confirmed', 'expired'],
  approve: ['pending'],
};

const DONE: Record<OperatorAction, { status: AnomalyStatus; what: string }> = {
  confirm: { status: 'confirmed', what: 'confirmed' },
  dismiss: { status: 'dismissed', what: 'dismissed' },
  approve: { status: 'actioned', what: 'approved' },
};

export type ControlEffect = 'apply' | 'lift' | 'none';

export type Transition =
  | { readonly ok: true; readonly status: AnomalyStatus; readonly entry: HistoryEntry; readonly effect: ControlEffect }
  | { readonly ok: false; readonly reason: string };

export function transition(report: AnomalyReport, action: OperatorAction, who: string, ts: number, note?: string): Transition {
  if (!ALLOWED[action].includes(report.status)) return { ok: false, reason: `cannot ${action} an anomaly that is ${report.status}` };
  const done = DONE[action];
  const entry: HistoryEntry = { ts, who, what: done.what, ...(note ? { note } : {}) };
  let effect: ControlEffect = 'none';
  if (action === 'approve' && report.action.kind !== 'observe') effect = 'apply';
  // PUT_IN_FORCE (models/anomaly.ts): the report stores keep the earliest such entry when they bound the history
  if (action === 'dismiss' && ((report.action.applied && report.action.kind !== 'observe') || report.history.some((h) => PUT_IN_FORCE.has(h.what)))) effect = 'lift';
  return { ok: true, status: done.status, entry, effect };
}

/** Operator notes are free text; keep them printable and bounded like the report codec requires. */
export function cleanNote(note: string | undefined): string | undefined {
  if (note === undefined) return undefined;
  // eslint-disable-next-line no-control-regex
  // C0 and C1 controls and the bidirectional overrides (they reorder what a reader of the note sees)
  const cleaned = note.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').trim().slice(0, 1024);
  return cleaned.length ? cleaned : undefined;
}
