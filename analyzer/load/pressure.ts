/**
 * From signals to one number: pressure = the largest observed/target ratio over the signals the
 * policy sets targets for (p99, p50, error rate, each named gauge). Above 1 the service is past a
 * target; the parts say which, and become the human reason of every change ("p99 412ms > target
 * 250ms; 5xx 3.1% > 1%").
 *
 * Latency and error ratios need `minSamples` forwarded requests in the window to count: a p99 of five
 * requests is noise, and tightening on noise costs real clients. Failed requests (5xx, the sidecar's
 * 502/504) are latency samples too, at the time they waited (loadWatcher.ts), so a p99 target alone
 * sees timeouts. Without any usable signal the pressure is null — no evidence of overload — and
 * controllers recover; `note` then says why (too little traffic, no gauge value, no target set).
 */
import type { LoadConfig } from '../../models/policy/index.js';
import type { LoadSignals } from './loadWatcher.js';

export interface PressurePart {
  /** `p99`, `p50`, `errors`, or a gauge key. */
  readonly signal: string;
  readonly observed: number;
  readonly target: number;
  readonly ratio: number;
}

export interface Pressure {
  /** max(observed / target) over the parts, null when no signal was usable. */
  readonly value: number | null;
  readonly parts: readonly PressurePart[];
  /** Why the value is null ("too little traffic to judge (5 requests in the window)", "no latency, error or gauge target set"…); absent otherwise. */
  readonly note?: string;
}

export const DEFAULT_MIN_SAMPLES = 20;

/** Error ratios are compared with a floor, so a 0.1% target is not "10× over" on one 5xx in a thousand. */
const ERROR_FLOOR = 0.001;

export function pressureOf(signals: LoadSignals, config: LoadConfig, minSamples = DEFAULT_MIN_SAMPLES): Pressure {
  const parts: PressurePart[] = [];
  const t = config.targets;
  const enough = signals.count >= minSamples;
  if (enough && t.p99Ms !== null && signals.p99Ms !== null) parts.push(part('p99', signals.p99Ms, t.p99Ms));
  if (enough && t.p50Ms !== null && signals.p50Ms !== null) parts.push(part('p50', signals.p50Ms, t.p50Ms));
  if (enough && t.errorRate !== null && signals.errorRate !== null) {
    parts.push({ signal: 'errors', observed: signals.errorRate, target: t.errorRate, ratio: signals.errorRate / Math.max(t.errorRate, ERROR_FLOOR) });
  }
  const missingGauges: string[] = [];
  for (const [key, target] of Object.entries(config.gauges)) {
    const v = Object.hasOwn(signals.gauges, key) ? signals.gauges[key] : undefined;
    if (v !== undefined && Number.isFinite(v)) parts.push(part(key, v, target));
    else missingGauges.push(key);
  }
  if (parts.length === 0) return { value: null, parts, note: nullNote(signals, config, enough, missingGauges) };
  let value = 0;
  for (const p of parts) if (p.ratio > value) value = p.ratio;
  return { value, parts };
}

/** Why no signal was usable: said per kind of target, so a policy without one is not read as "too little traffic". */
function nullNote(signals: LoadSignals, config: LoadConfig, enough: boolean, missingGauges: readonly string[]): string {
  const t = config.targets;
  const notes: string[] = [];
  if (t.p99Ms !== null || t.p50Ms !== null || t.errorRate !== null) {
    notes.push(enough ? `no latency sample among ${signals.count} forwarded requests` : `too little traffic to judge (${signals.count} requests in the window)`);
  }
  if (missingGauges.length > 0) notes.push(`no value for ${missingGauges.join(', ')} (scrape failed or not exposed)`);
  if (notes.length === 0) return 'no latency, error or gauge target set';
  if (t.p99Ms === null && t.p50Ms === null && t.errorRate === null) notes.push('no latency or error target set');
  return notes.join('; ');
}

function part(signal: string, observed: number, target: number): PressurePart {
  return { signal, observed, target, ratio: target > 0 ? observed / target : observed > 0 ? Infinity : 0 };
}

function formatValue(p: PressurePart, v: number): string {
  if (p.signal === 'p99' || p.signal === 'p50') return `${Math.round(v)}ms`;
  if (p.signal === 'errors') return `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
  return Number.isInteger(v) ? String(v) : v.toPrecision(3);
}

function label(p: PressurePart): string {
  return p.signal === 'errors' ? '5xx' : p.signal;
}

/** "p99 412ms > target 250ms; 5xx 3.1% > 1.0%" — the parts over target, else all of them within. */
export function describePressure(pressure: Pressure, count?: number): string {
  if (pressure.value === null) return pressure.note ?? (count !== undefined ? `too little traffic to judge (${count} requests in the window)` : 'no load signal');
  const over = pressure.parts.filter((p) => p.ratio > 1);
  if (over.length > 0) {
    return over
      .sort((a, b) => b.ratio - a.ratio)
      .map((p, i) => `${label(p)} ${formatValue(p, p.observed)} > ${i === 0 ? 'target ' : ''}${formatValue(p, p.target)}`)
      .join('; ');
  }
  return pressure.parts.map((p) => `${label(p)} ${formatValue(p, p.observed)} ≤ ${formatValue(p, p.target)}`).join('; ');
}
