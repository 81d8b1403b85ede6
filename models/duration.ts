/** Durations (`250ms`, `10s`, `1.5m`, `2h`, `1d`) and rates (`100/s`, `5/m`, `1000/10s`). */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const RATE_RE = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)?(ms|s|m|h|d)$/;

/** Milliseconds for a duration string, or null when it is not one. Zero is allowed; callers check ranges. */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = DURATION_RE.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

export interface Rate {
  /** Units admitted per period. */
  readonly amount: number;
  readonly periodMs: number;
}

/**
 * `N/unit` or `N/<duration>` (e.g. `1000/10s`), or null when it is not a rate. The period is rounded
 * to whole ms like a duration, and may be 0 (`10/0.4ms`): callers check ranges, as for parseDuration
 * (checking before rounding let `10/0.4ms` through as a 0 ms period).
 */
export function parseRate(text: unknown): Rate | null {
  if (typeof text !== 'string') return null;
  const m = RATE_RE.exec(text.trim());
  if (!m) return null;
  const amount = Number(m[1]);
  const periodMs = Math.round(Number(m[2] ?? '1') * UNIT_MS[m[3]!]!);
  if (!Number.isFinite(amount) || !Number.isFinite(periodMs)) return null;
  return { amount, periodMs };
}

/** Inverse of parseDuration for messages and headers: the largest unit that divides evenly. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
