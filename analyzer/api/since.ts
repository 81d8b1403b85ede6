/**
 * `since` of GET /api/anomalies (and `ratewarden anomalies list --since`, which checks it before
 * sending): epoch ms, an ISO-8601 date-time, or a duration back from now (`1h`).
 */
import { parseDuration } from '../../models/duration.js';

/** The epoch ms `text` names, or null when it is none of the forms — or names a day its month does not have. */
export function parseSince(text: string, now: number): number | null {
  if (/^\d{1,15}$/.test(text)) return Number(text);
  const back = parseDuration(text);
  if (back !== null) return now - back;
  const date = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (date) {
    const t = Date.parse(text);
    // Date.parse rolls an impossible day over (2025-02-30 is March 2): a day the month lacks is no time
    if (!Number.isFinite(t) || Number(date[3]) > daysIn(Number(date[1]), Number(date[2]))) return null;
    return t;
  }
  return null;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
