/**
 * Where anomaly reports live: a queryable store with retention (Redis in production, memory in the
 * demo and tests). Reports are written by the analyzer that owns the client and changed by operators
 * through any analyzer instance, so status changes are conditional and atomic (`transition`), and
 * every change appends to the report's history.
 */
import type { AnomalyAction, AnomalyReport, AnomalyStatus, Explanation, HistoryEntry } from '../../models/anomaly.js';

export interface ReportQuery {
  readonly status?: AnomalyStatus;
  readonly client?: string;
  /** Epoch ms, inclusive. */
  readonly since?: number;
  readonly until?: number;
  /** Page size (default 50, at most 500). */
  readonly limit?: number;
  /** Opaque cursor from the previous page's `next`. */
  readonly cursor?: string;
}

export interface ReportPage {
  /** Newest first. */
  readonly items: readonly AnomalyReport[];
  readonly next: string | null;
}

export interface ReportDetails {
  readonly score: number;
  readonly detectors: Readonly<Record<string, number>>;
  readonly explanation: readonly Explanation[];
  readonly summary: string;
}

export interface ReportTransition {
  /** New status (omit to keep it). */
  readonly to?: AnomalyStatus;
  /** Only if the current status is one of these (omit: any). */
  readonly from?: readonly AnomalyStatus[];
  /** Replaces the action. */
  readonly action?: AnomalyAction;
  readonly entry: HistoryEntry;
}

export type TransitionResult =
  | { readonly ok: true; readonly report: AnomalyReport }
  | { readonly ok: false; readonly reason: 'not_found' }
  | { readonly ok: false; readonly reason: 'conflict'; readonly report: AnomalyReport };

export interface ReportStore {
  /** Stores a new report; false (and nothing changes) when the id exists already. */
  create(report: AnomalyReport): Promise<boolean>;
  /** Replaces score, detectors, explanation and summary (the analyzer refreshing an episode). */
  updateDetails(id: string, details: ReportDetails): Promise<AnomalyReport | null>;
  /** Atomically checks the status, sets status/action and appends the history entry. */
  transition(id: string, change: ReportTransition): Promise<TransitionResult>;
  get(id: string): Promise<AnomalyReport | null>;
  list(query?: ReportQuery): Promise<ReportPage>;
  /** Deletes reports older than `now - retentionMs`; returns how many. */
  trim(now: number, retentionMs: number): Promise<number>;
  close(): Promise<void>;
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 500;

export function pageSize(query: ReportQuery): number {
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(query.limit ?? DEFAULT_PAGE)));
}
