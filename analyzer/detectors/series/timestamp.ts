/**
 * Timestamps as NAB and operators write them: `YYYY-MM-DD HH:MM:SS[.ffffff]` (taken as UTC),
 * ISO 8601 with `T` and an optional zone, or epoch milliseconds. Returns NaN when unreadable —
 * also for a date that does not exist (2014-02-30) and for anything else `Date.parse` would guess
 * at ("hello 2014", "Apr 1 2014"): those forms are read in the machine's local zone, and a guess
 * turns a wrong column into a series of made-up times without a word.
 */
const NAB_FORM = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
/** ISO 8601 (RFC 3339) shapes: a date, optionally a time, optionally a zone. */
const ISO_FORM = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

export function parseUtcTimestamp(text: string): number {
  const t = text.trim();
  const m = NAB_FORM.exec(t);
  if (m) {
    const [year, month, day, hour, minute, second] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, m[6] ? +m[6] : 0];
    const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
    const v = Date.UTC(year, month - 1, day, hour, minute, second, ms);
    // Date.UTC rolls over (2014-13-01 → 2015-01-01, 24:00 → the next day): such a field is a typo
    const d = new Date(v);
    if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || d.getUTCHours() !== hour || d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second) return NaN;
    return v;
  }
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  const iso = ISO_FORM.exec(t);
  if (!iso) return NaN;
  const parsed = Date.parse(t.replace(' ', 'T'));
  if (!Number.isFinite(parsed)) return NaN;
  // the calendar date as written must exist (Date.parse takes 2014-02-30 as 2014-03-02)
  const day = new Date(Date.UTC(+iso[1]!, +iso[2]! - 1, +iso[3]!));
  if (day.getUTCFullYear() !== +iso[1]! || day.getUTCMonth() !== +iso[2]! - 1 || day.getUTCDate() !== +iso[3]!) return NaN;
  return parsed;
}
