/**
 * The paging cursor of report lists: the position (detection time, id) of the last report of a
 * page, opaque to clients. A position, not an offset: reports detected or changing status between
 * two pages neither repeat nor skip an item of the next page.
 */

export interface CursorPosition {
  readonly ts: number;
  readonly id: string;
}

export function encodeCursor(report: CursorPosition): string {
  return Buffer.from(JSON.stringify([report.ts, report.id])).toString('base64url');
}

/** The position of a cursor this module made, or null for anything else. */
export function decodeCursor(cursor: string): CursorPosition | null {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && Number.isFinite(v[0]) && typeof v[1] === 'string') return { ts: v[0], id: v[1] };
  } catch {
    // fall through
  }
  return null;
}

/** Whether `r` comes after the cursor position in newest-first order (ts descending, then id descending). */
export function isAfterCursor(r: CursorPosition, c: CursorPosition): boolean {
  return r.ts < c.ts || (r.ts === c.ts && r.id < c.id);
}

/** Thrown by a store's list for a cursor it never handed out (the API answers 400). */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor: pass the `next` of the previous page');
    this.name = 'InvalidCursorError';
  }
}

/** The position of `cursor`, undefined without one; throws InvalidCursorError for a bad one. */
export function cursorPosition(cursor: string | undefined): CursorPosition | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const c = decodeCursor(cursor);
  if (!c) throw new InvalidCursorError();
  return c;
}
