/**
 * Timestamps as NAB and operators write them: `YYYY-MM-DD HH:MM:SS[.ffffff]` (taken as UTC),
 * ISO 8601 with `T` and an optional zone, or epoch milliseconds. Returns NaN when unreadable.
 */
const NAB_FORM = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;

export function parseUtcTimestamp(text: string): number {
  const t = text.trim();
  const m = NAB_FORM.exec(t);
  if (m) {
    const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
    const v = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, m[6] ? +m[6] : 0, ms);
    return v;
  }
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  const parsed = Date.parse(t);
  return Number.isFinite(parsed) ? parsed : NaN;
}
