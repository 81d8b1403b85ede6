/**
 * Where anomaly reports live: a queryable store with retention (Redis in production, memory in the
 * demo and tests). Reports are written by the analyzer that owns the client and changed by operators
 * through any analyzer instance, so status changes are conditional and atomic (`transition`), and
 * every change appends to the report's history.
 */
import { ANOMALY_STATUSES, PUT_IN_FORCE, anomalyActionError, decodeAnomalyReport, encodeAnomalyReport, historyEntryError, type AnomalyAction, type AnomalyReport, type AnomalyStatus, type Explanation, type HistoryEntry } from '../../models/anomaly.js';

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
  /** Stores a new report; false (and nothing changes) when the id exists already. Create, updateDetails and transition throw InvalidReportError (nothing changes) for what the codec would refuse. */
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

/**
 * Thrown by create, updateDetails and transition, before anything is written, for what the codec
 * would not read back (decodeAnomalyReport): stored anyway, the report would be gone from get and
 * list on Redis (which reads through the codec) while its action stayed in force, where the memory
 * store returned it.
 */
export class InvalidReportError extends Error {
  constructor(reason: string) {
    super(`invalid anomaly report: ${reason}`);
    this.name = 'InvalidReportError';
  }
}

/** Throws InvalidReportError unless `report` reads back through the codec. */
export function assertStorable(report: AnomalyReport): void {
  const decoded = decodeAnomalyReport(encodeAnomalyReport(report));
  if (!decoded.ok) throw new InvalidReportError(decoded.error);
}

/** Throws InvalidReportError for a transition whose status, action or entry the codec would refuse. */
export function assertTransition(change: ReportTransition): void {
  const error =
    (change.to !== undefined && !(ANOMALY_STATUSES as readonly string[]).includes(change.to) ? `status must be one of ${ANOMALY_STATUSES.join(', ')}` : null) ??
    (change.from?.find((s) => !(ANOMALY_STATUSES as readonly string[]).includes(s)) !== undefined ? `from must list statuses of ${ANOMALY_STATUSES.join(', ')}` : null) ??
    (change.action !== undefined ? anomalyActionError(change.action) : null) ??
    historyEntryError(change.entry);
  if (error) throw new InvalidReportError(error);
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 500;

export function pageSize(query: ReportQuery): number {
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(query.limit ?? DEFAULT_PAGE)));
}

/**
 * A report's history is bounded, whatever is appended (operators can append without end: every
 * block/unblock naming the report adds an entry). Past `maxEntries` entries, or `maxBytes` of entry
 * JSON (UTF-8), the oldest entries are dropped, atomically with the append, and counted in the
 * report's `historyDropped` — never the first entry (`detected`), and never the earliest entry of
 * PUT_IN_FORCE: once it is the oldest one left after the first it stays there, so a dismissal still
 * sees that something of the report was put in force. One entry is bounded by the codec (who ≤ 128,
 * what ≤ 64, note ≤ 1,024 characters: under 8 KB as JSON), so a stored report stays far inside the
 * 1 MiB decodeAnomalyReport accepts.
 */
export interface HistoryBound {
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

export const HISTORY_MAX_ENTRIES = 1_000;
export const HISTORY_MAX_BYTES = 256 * 1024;

/** The history with `entry` appended, within the bound (the memory store's twin of the Redis script). */
export function appendBounded(history: readonly HistoryEntry[], entry: HistoryEntry, bound: HistoryBound = {}): { history: HistoryEntry[]; dropped: number } {
  const maxEntries = bound.maxEntries ?? HISTORY_MAX_ENTRIES;
  const maxBytes = bound.maxBytes ?? HISTORY_MAX_BYTES;
  const next = [...history, entry];
  const size = (h: HistoryEntry): number => Buffer.byteLength(JSON.stringify(h));
  let bytes = next.reduce((n, h) => n + size(h), 0);
  let dropped = 0;
  while (next.length > maxEntries || bytes > maxBytes) {
    // the first entry stays; so does the second when it is the earliest one put in force
    const keep = next.length > 1 && PUT_IN_FORCE.has(next[1]!.what) ? 2 : 1;
    // the newest entry stays too
    if (next.length <= keep + 1) break;
    bytes -= size(next.splice(keep, 1)[0]!);
    dropped++;
  }
  return { history: next, dropped };
}
