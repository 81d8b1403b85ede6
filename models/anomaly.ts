import { ErrorCodes } from './errors.js';
import { check, decodeFail, firstError, parseJsonObject, type Decoded } from './codec.js';

/**
 * An anomaly report: what the analyzer found about one client in one window, why, and what was
 * done. Published on `ratewarden.anomalies` and kept in a queryable store; operators change its
 * status, and every change is appended to `history` (who, when, what).
 */
export const ANOMALY_STATUSES = ['open', 'pending', 'actioned', 'confirmed', 'dismissed', 'expired'] as const;
export type AnomalyStatus = (typeof ANOMALY_STATUSES)[number];

export const ACTION_KINDS = ['observe', 'tighten', 'block'] as const;

export interface Explanation {
  /** Feature name as defined in models/ (e.g. `requests_10s`, `ratio_401_403`). */
  readonly feature: string;
  readonly observed: number;
  /** What normal looks like for this client (or its tier's population): centre of the baseline. */
  readonly baseline: number;
  /** Typical spread of the baseline (MAD-based sigma or EWMA std). */
  readonly spread: number;
  /** How far out `observed` is, in spreads (robust z). */
  readonly z: number;
  readonly detector?: string;
  /** A sentence for operators, e.g. "401+403 ratio 0.92 vs 0.01 normal". */
  readonly text?: string;
}

export interface AnomalyAction {
  readonly kind: (typeof ACTION_KINDS)[number];
  readonly multiplier?: number;
  readonly ttlMs?: number;
  /** Epoch ms the action ends. */
  readonly until?: number;
  /** Whether it was written to the control plane (false while waiting for approval, or for observe). */
  readonly applied: boolean;
}

export interface HistoryEntry {
  readonly ts: number;
  /** `analyzer`, or the operator (token name) who acted. */
  readonly who: string;
  /** `detected`, `actioned`, `approved`, `confirmed`, `dismissed`, `unblocked`, `expired`, … */
  readonly what: string;
  readonly note?: string;
}

export interface AnomalyReport {
  readonly v: 1;
  readonly id: string;
  /** Epoch ms of detection. */
  readonly ts: number;
  readonly client: string;
  readonly tier?: string;
  readonly service?: string;
  readonly window: { readonly start: number; readonly end: number; readonly sizeMs: number };
  /** Fused score in [0, 1]. */
  readonly score: number;
  /** Score per detector that contributed, each in [0, 1]. */
  readonly detectors: Readonly<Record<string, number>>;
  readonly explanation: readonly Explanation[];
  readonly summary: string;
  readonly action: AnomalyAction;
  readonly status: AnomalyStatus;
  readonly history: readonly HistoryEntry[];
  /**
   * How many history entries the report store dropped to keep the history bounded (absent: none).
   * The first entry and the earliest entry of PUT_IN_FORCE are always kept; see analyzer/reports/store.ts.
   */
  readonly historyDropped?: number;
}

/**
 * History entries saying something of the report was put in force at some point. Its action may no
 * longer say so: an approved tighten stays in force while the escalated block waits for its own
 * approval (status `pending`, action the unapplied block), and dismissing must lift the tighten too.
 * The report stores never drop the last of these from a history they bound.
 */
export const PUT_IN_FORCE: ReadonlySet<string> = new Set(['actioned', 'approved', 'blocked', 'overridden']);

export const ANOMALY_REPORT_VERSION = 1;

export function encodeAnomalyReport(report: AnomalyReport): string {
  return JSON.stringify(report);
}

export function decodeAnomalyReport(input: string | Buffer): Decoded<AnomalyReport> {
  const parsed = parseJsonObject(input, 1 << 20);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (o.v !== ANOMALY_REPORT_VERSION) return decodeFail(ErrorCodes.CODEC_VERSION, check.version(o, ANOMALY_REPORT_VERSION)!);
  const error = firstError(
    check.string(o, 'id', { max: 128 }),
    check.number(o, 'ts', { min: 0 }),
    check.string(o, 'client', { max: 1024 }),
    check.string(o, 'tier', { optional: true, max: 32 }),
    check.string(o, 'service', { optional: true, max: 253 }),
    check.number(o, 'score', { min: 0, max: 1 }),
    check.string(o, 'summary', { max: 4096 }),
    check.oneOf(o, 'status', ANOMALY_STATUSES),
    checkWindow(o.window),
    checkDetectors(o.detectors),
    checkList(o.explanation, 'explanation', checkExplanation),
    checkAction(o.action),
    checkList(o.history, 'history', checkHistory),
    check.number(o, 'historyDropped', { optional: true, min: 0, int: true }),
  );
  if (error) return decodeFail(ErrorCodes.CODEC_FIELD, error);
  return { ok: true, value: o as unknown as AnomalyReport };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkWindow(w: unknown): string | null {
  if (!isObject(w)) return 'window must be an object';
  return firstError(check.number(w, 'start', { min: 0 }), check.number(w, 'end', { min: 0 }), check.number(w, 'sizeMs', { min: 0 })) ?? (Number(w.end) < Number(w.start) ? 'window.end is before window.start' : null);
}

function checkDetectors(d: unknown): string | null {
  if (!isObject(d)) return 'detectors must be an object';
  for (const [name, score] of Object.entries(d)) {
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return `detectors.${name} must be a score in [0, 1]`;
  }
  return null;
}

function checkList(list: unknown, name: string, item: (o: Record<string, unknown>) => string | null): string | null {
  if (!Array.isArray(list)) return `${name} must be a list`;
  for (let i = 0; i < list.length; i++) {
    const entry: unknown = list[i];
    if (!isObject(entry)) return `${name}[${i}] must be an object`;
    const e = item(entry);
    if (e) return `${name}[${i}].${e}`;
  }
  return null;
}

function checkExplanation(o: Record<string, unknown>): string | null {
  return firstError(
    check.string(o, 'feature', { max: 64 }),
    check.number(o, 'observed'),
    check.number(o, 'baseline'),
    check.number(o, 'spread', { min: 0 }),
    check.number(o, 'z'),
    check.string(o, 'detector', { optional: true, max: 64 }),
    check.string(o, 'text', { optional: true, max: 512 }),
  );
}

/** Why `a` is no report action the codec reads (null: it is one). */
export function anomalyActionError(a: unknown): string | null {
  return checkAction(a);
}

/** Why `e` is no history entry the codec reads (null: it is one), e.g. a `who` past 128 characters. */
export function historyEntryError(e: unknown): string | null {
  if (!isObject(e)) return 'history entry must be an object';
  const error = checkHistory(e);
  return error ? `history entry: ${error}` : null;
}

function checkAction(a: unknown): string | null {
  if (!isObject(a)) return 'action must be an object';
  const e = firstError(
    check.oneOf(a, 'kind', ACTION_KINDS),
    check.number(a, 'multiplier', { optional: true, min: 0, max: 1 }),
    check.number(a, 'ttlMs', { optional: true, min: 0 }),
    check.number(a, 'until', { optional: true, min: 0 }),
  );
  if (e) return `action.${e}`;
  return typeof a.applied === 'boolean' ? null : 'action.applied must be true or false';
}

function checkHistory(o: Record<string, unknown>): string | null {
  return firstError(check.number(o, 'ts', { min: 0 }), check.string(o, 'who', { max: 128 }), check.string(o, 'what', { max: 64 }), check.string(o, 'note', { optional: true, max: 1024 }));
}
