/**
 * The load experiment's arithmetic, pure: answers (tier, status, latency, send time) binned over
 * time, and the figures the issue asks for — goodput against capacity, p99 against the unloaded
 * p99, success per tier at 3× overload, time to react, time to recover.
 *
 * Definitions (printed with the results):
 * - capacity: workers × 1000 / mean service time (the stub's log-normal service time has mean
 *   serviceMs × e^(σ²/2), σ = 0.2).
 * - unloaded p99: p99 latency of 2xx answers in the first step (0.5×), after its first second.
 * - goodput at 3×: 2xx answers per second for requests sent during the 3× step after its first
 *   `settleMs` (2 s: the reaction allowance), over capacity; p99 at 3× likewise, over the unloaded p99.
 * - success per tier at 3×: 2xx / sent over the whole 3× step (reaction included).
 * - react: from the 3× step's start to the first moment from which every 1 s window of the step
 *   has p99 ≤ 2 × unloaded p99 and enterprise success ≥ 99% (0: the targets never broke; null: they
 *   never held).
 * - recovery: from the drop back to 0.5× to the first moment from which every 1 s window has every
 *   tier at ≥ 99% success and p99 ≤ 2 × unloaded p99 (null: not within the step).
 */

export interface Answer {
  readonly tier: string;
  /** null: transport error or timeout. */
  readonly status: number | null;
  readonly latencyMs: number;
  /** ms since the run started. */
  readonly sentAt: number;
}

export interface Step {
  readonly factor: number;
  readonly ratePerSec: number;
  readonly durationMs: number;
  /** ms since the run started. */
  readonly startMs: number;
}

export const BIN_MS = 250;

export interface Bin {
  readonly t: number;
  sent: number;
  ok: number;
  shed: number;
  errors: number;
  readonly latencies: number[];
  readonly byTier: Record<string, { sent: number; ok: number }>;
}

export function binAnswers(answers: readonly Answer[], totalMs: number): Bin[] {
  const n = Math.ceil(totalMs / BIN_MS);
  const bins: Bin[] = Array.from({ length: n }, (_, i) => ({ t: i * BIN_MS, sent: 0, ok: 0, shed: 0, errors: 0, latencies: [], byTier: {} }));
  for (const a of answers) {
    const b = bins[Math.min(n - 1, Math.floor(a.sentAt / BIN_MS))];
    if (!b) continue;
    b.sent++;
    const t = (b.byTier[a.tier] ??= { sent: 0, ok: 0 });
    t.sent++;
    if (a.status !== null && a.status >= 200 && a.status < 300) {
      b.ok++;
      t.ok++;
      b.latencies.push(a.latencyMs);
    } else if (a.status === 503 || a.status === 429) b.shed++;
    else b.errors++;
  }
  return bins;
}

export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function within(answers: readonly Answer[], from: number, to: number): Answer[] {
  return answers.filter((a) => a.sentAt >= from && a.sentAt < to);
}

function okLatencies(answers: readonly Answer[]): number[] {
  const out: number[] = [];
  for (const a of answers) if (a.status !== null && a.status >= 200 && a.status < 300) out.push(a.latencyMs);
  return out;
}

function successByTier(answers: readonly Answer[]): Record<string, number> {
  const sent: Record<string, number> = {};
  const ok: Record<string, number> = {};
  for (const a of answers) {
    sent[a.tier] = (sent[a.tier] ?? 0) + 1;
    if (a.status !== null && a.status >= 200 && a.status < 300) ok[a.tier] = (ok[a.tier] ?? 0) + 1;
  }
  const out: Record<string, number> = {};
  for (const [tier, n] of Object.entries(sent)) out[tier] = round((ok[tier] ?? 0) / n, 4);
  return out;
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Start (ms) of the first window position from which every later 1 s window in [from, to) passes `ok`; null when none. */
function firstStableFrom(answers: readonly Answer[], from: number, to: number, ok: (window: Answer[]) => boolean): number | null {
  const positions: number[] = [];
  for (let t = from; t + 1_000 <= to; t += BIN_MS) positions.push(t);
  let stableFrom: number | null = null;
  for (let i = positions.length - 1; i >= 0; i--) {
    const t = positions[i]!;
    if (ok(within(answers, t, t + 1_000))) stableFrom = t;
    else break;
  }
  return stableFrom;
}

export interface CaseFigures {
  readonly capacity_rps: number;
  readonly unloaded_p99_ms: number | null;
  readonly goodput_rps: number;
  readonly goodput_ratio: number;
  readonly p99_ms: number | null;
  readonly p99_ratio: number | null;
  readonly success: Readonly<Record<string, number>>;
  readonly enterprise_success: number;
  readonly react_s: number | null;
  readonly recovery_s: number | null;
  /** From the 3× step's start to the first 503/429 answer (null: none). */
  readonly first_shed_s: number | null;
  /** 503/429 answers and transport errors in the 3× step. */
  readonly shed_at_peak: number;
  readonly errors_at_peak: number;
}

export function caseFigures(answers: readonly Answer[], steps: readonly Step[], capacity: number, settleMs = 2_000): CaseFigures {
  const first = steps[0]!;
  const peak = steps.reduce((a, b) => (b.factor > a.factor ? b : a));
  const last = steps.at(-1)!;
  const unloaded = quantile(okLatencies(within(answers, first.startMs + 1_000, first.startMs + first.durationMs)), 0.99);
  const peakEnd = peak.startMs + peak.durationMs;
  const settled = within(answers, peak.startMs + settleMs, peakEnd);
  const good = okLatencies(settled);
  const goodput = good.length / ((peak.durationMs - settleMs) / 1000);
  const p99 = quantile(good, 0.99);
  const whole = within(answers, peak.startMs, peakEnd);
  const success = successByTier(whole);
  const limit = unloaded !== null ? 2 * unloaded : Infinity;
  const reactFrom = firstStableFrom(answers, peak.startMs, peakEnd, (w) => {
    const p = quantile(okLatencies(w), 0.99);
    const ent = w.filter((a) => a.tier === 'enterprise');
    const entOk = ent.filter((a) => a.status !== null && a.status >= 200 && a.status < 300).length;
    return (p === null || p <= limit) && (ent.length === 0 || entOk / ent.length >= 0.99);
  });
  // from the moment the overload ends (the step after it may be 1× before the 0.5× one): every
  // step after the peak is held to it, not only the last
  const recoveryFrom = firstStableFrom(answers, peakEnd, last.startMs + last.durationMs, (w) => {
    const p = quantile(okLatencies(w), 0.99);
    return (p === null || p <= limit) && Object.values(successByTier(w)).every((s) => s >= 0.99);
  });
  let shed = 0;
  let errors = 0;
  let firstShed: number | null = null;
  for (const a of whole) {
    if (a.status === 503 || a.status === 429) {
      shed++;
      if (firstShed === null || a.sentAt < firstShed) firstShed = a.sentAt;
    } else if (a.status === null || a.status >= 500) errors++;
  }
  return {
    capacity_rps: round(capacity, 1),
    unloaded_p99_ms: unloaded === null ? null : round(unloaded, 1),
    goodput_rps: round(goodput, 1),
    goodput_ratio: round(goodput / capacity),
    p99_ms: p99 === null ? null : round(p99, 1),
    p99_ratio: p99 !== null && unloaded ? round(p99 / unloaded, 2) : null,
    success,
    enterprise_success: success.enterprise ?? 0,
    react_s: reactFrom === null ? null : round((reactFrom - peak.startMs) / 1000, 2),
    recovery_s: recoveryFrom === null ? null : round((recoveryFrom - peakEnd) / 1000, 2),
    first_shed_s: firstShed === null ? null : round((firstShed - peak.startMs) / 1000, 2),
    shed_at_peak: shed,
    errors_at_peak: errors,
  };
}
