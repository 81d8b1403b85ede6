/**
 * Reports in memory (the demo, tests, replays): the same semantics as the Redis store, bounded by
 * retention and by `maxReports` (oldest dropped first, counted in `dropped`); a report's history is
 * bounded as in the Redis store (appendBounded, store.ts), its drops counted in `historyDropped`.
 */
import type { AnomalyReport } from '../../models/anomaly.js';
import { cursorPosition, encodeCursor, isAfterCursor } from './cursor.js';
import { appendBounded, assertStorable, assertTransition, pageSize, type HistoryBound, type ReportDetails, type ReportPage, type ReportQuery, type ReportStore, type ReportTransition, type TransitionResult } from './store.js';

export class MemoryReportStore implements ReportStore {
  /** Insertion order = detection order (ts ascending, roughly). */
  private readonly reports = new Map<string, AnomalyReport>();
  dropped = 0;
  /** History entries dropped past the history bound (all reports). */
  historyDropped = 0;

  constructor(
    private readonly maxReports = 100_000,
    private readonly historyBound: HistoryBound = {},
  ) {}

  async create(report: AnomalyReport): Promise<boolean> {
    assertStorable(report);
    if (this.reports.has(report.id)) return false;
    this.reports.set(report.id, structuredClone(report));
    while (this.reports.size > this.maxReports) {
      const oldest = this.reports.keys().next().value as string;
      this.reports.delete(oldest);
      this.dropped++;
    }
    return true;
  }

  async updateDetails(id: string, d: ReportDetails): Promise<AnomalyReport | null> {
    const r = this.reports.get(id);
    if (!r) return null;
    const next = { ...r, score: d.score, detectors: { ...d.detectors }, explanation: [...d.explanation], summary: d.summary };
    assertStorable(next);
    this.reports.set(id, next);
    return structuredClone(next);
  }

  async transition(id: string, change: ReportTransition): Promise<TransitionResult> {
    assertTransition(change);
    const r = this.reports.get(id);
    if (!r) return { ok: false, reason: 'not_found' };
    if (change.from && !change.from.includes(r.status)) return { ok: false, reason: 'conflict', report: structuredClone(r) };
    const { history, dropped } = appendBounded(r.history, change.entry, this.historyBound);
    const next: AnomalyReport = {
      ...r,
      status: change.to ?? r.status,
      action: change.action ?? r.action,
      history,
      ...(dropped > 0 ? { historyDropped: (r.historyDropped ?? 0) + dropped } : {}),
    };
    this.historyDropped += dropped;
    this.reports.set(id, next);
    return { ok: true, report: structuredClone(next) };
  }

  async get(id: string): Promise<AnomalyReport | null> {
    const r = this.reports.get(id);
    return r ? structuredClone(r) : null;
  }

  async list(query: ReportQuery = {}): Promise<ReportPage> {
    const size = pageSize(query);
    const matching = [...this.reports.values()]
      .filter((r) => (query.status === undefined || r.status === query.status) && (query.client === undefined || r.client === query.client) && (query.since === undefined || r.ts >= query.since) && (query.until === undefined || r.ts <= query.until))
      .sort((a, b) => b.ts - a.ts || (a.id < b.id ? 1 : -1));
    const after = cursorPosition(query.cursor);
    const rest = after ? matching.filter((r) => isAfterCursor(r, after)) : matching;
    const items = rest.slice(0, size).map((r) => structuredClone(r));
    return { items, next: rest.length > size ? encodeCursor(items[items.length - 1]!) : null };
  }

  async trim(now: number, retentionMs: number): Promise<number> {
    let removed = 0;
    for (const [id, r] of this.reports) {
      if (r.ts < now - retentionMs) {
        this.reports.delete(id);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.reports.size;
  }

  async close(): Promise<void> {}
}
