/**
 * A bounded in-memory list of anomaly reports, newest first, with cursor paging. The standalone
 * backend keeps its reports here (tests, UI development); the real analyzer has its own store.
 */
import type { AnomalyReport } from '../../models/anomaly.js';
import type { AnomalyPage, AnomalyQuery } from './backend.js';
// the cursor is the report stores' own (a position, not an offset), so every backend pages alike
import { cursorPosition, decodeCursor, encodeCursor, isAfterCursor } from '../reports/cursor.js';

export { decodeCursor, encodeCursor, isAfterCursor };

/** Newest first: by detection time, then by id so equal times keep a stable order. */
export function newestFirst(a: AnomalyReport, b: AnomalyReport): number {
  return b.ts - a.ts || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Pages a newest-first sequence of reports; works over any iterable, so stores can reuse it. */
export function pageOf(sorted: Iterable<AnomalyReport>, query: AnomalyQuery): AnomalyPage {
  const after = cursorPosition(query.cursor);
  const items: AnomalyReport[] = [];
  let more = false;
  for (const r of sorted) {
    if (after && !isAfterCursor(r, after)) continue;
    if (query.status && r.status !== query.status) continue;
    if (query.client && r.client !== query.client) continue;
    if (query.since !== undefined && r.ts < query.since) continue;
    if (items.length === query.limit) {
      more = true;
      break;
    }
    items.push(r);
  }
  return { items, next: more ? encodeCursor(items[items.length - 1]!) : null };
}

export class MemoryReportList {
  private readonly byId = new Map<string, AnomalyReport>();
  /** Reports evicted because the list was full. */
  evicted = 0;

  constructor(private readonly max = 10_000) {}

  put(report: AnomalyReport): void {
    this.byId.delete(report.id);
    this.byId.set(report.id, report);
    while (this.byId.size > this.max) {
      const oldest = this.sorted().at(-1)!;
      this.byId.delete(oldest.id);
      this.evicted++;
    }
  }

  get(id: string): AnomalyReport | null {
    return this.byId.get(id) ?? null;
  }

  list(query: AnomalyQuery): AnomalyPage {
    return pageOf(this.sorted(), query);
  }

  get size(): number {
    return this.byId.size;
  }

  private sorted(): AnomalyReport[] {
    return [...this.byId.values()].sort(newestFirst);
  }
}
