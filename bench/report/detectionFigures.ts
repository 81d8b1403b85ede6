/**
 * Detection quality per scenario, from one analyzer run over the simulator's labelled traffic:
 * what was reported, what was blocked, and how many normal clients were active when.
 *
 * A report is true when it names a client of a label between the label's onset and its end + grace;
 * every other report on a client is a false alarm. Per scenario (all its labels):
 *   recall      attacking clients with a true report / attacking clients
 *   precision   its true reports / (its true reports + false alarms raised during its spans)
 *   false alarms per 10k client-minutes: false alarms during its spans / normal client-minutes in them
 *   ttd_s       onset → first true report (median over its labels)
 *   time_to_block_s  onset → first block written for one of its clients within the span
 *   first_call_s     onset → the attack's first call (median over its labels): how much of the
 *                    time to detect is the attack's own pace rather than the detector's
 *   calls_to_detect  the attack's calls up to its first true report (median over its labels)
 * Precision and false alarms are attributed by time because a false alarm names no scenario: they
 * say how clean the alarms were while that attack was on. The `overall` figures count the whole run.
 */
import type { DetectionScenarioResult } from './shape.js';
import { median, round } from './stats.js';

export interface LabelSpan {
  readonly id: string;
  readonly scenario: string;
  readonly clients: readonly string[];
  readonly onsetMs: number;
  readonly endMs: number;
}

export interface ReportMark {
  readonly client: string;
  readonly ts: number;
  readonly score: number;
  readonly action: string;
  readonly detector?: string;
}

export interface BlockMark {
  readonly client: string;
  readonly ts: number;
}

export interface DetectionInput {
  readonly labels: readonly LabelSpan[];
  /** Reports on clients (service-wide reports left out). */
  readonly reports: readonly ReportMark[];
  readonly blocks: readonly BlockMark[];
  /** Normal (unlabelled) clients active per minute: minute index (epoch ms / 60 000) → count. */
  readonly normalMinutes: ReadonlyMap<number, number>;
  readonly graceMs: number;
  /** Times of each label's own calls (label id → epoch ms, in order), when known. */
  readonly attackCalls?: ReadonlyMap<string, readonly number[]>;
}

/** Onset → an attack's first call, and its calls up to (and at) the first true report. */
export function attackTiming(calls: readonly number[] | undefined, onsetMs: number, detectedAt: number | null): { firstCallS: number | null; callsToDetect: number | null } {
  if (!calls || calls.length === 0) return { firstCallS: null, callsToDetect: null };
  let n = 0;
  if (detectedAt !== null) while (n < calls.length && calls[n]! <= detectedAt) n++;
  return { firstCallS: (calls[0]! - onsetMs) / 1000, callsToDetect: detectedAt === null ? null : n };
}

export interface OverallDetection {
  /** Share of attacks (labels) with at least one true report. */
  readonly recall: number | null;
  readonly client_recall: number | null;
  readonly precision: number | null;
  readonly false_alarms: number;
  readonly client_minutes: number;
  readonly false_alarms_per_10k_client_min: number | null;
  readonly median_ttd_s: number | null;
  readonly max_ttd_s: number | null;
  readonly median_time_to_block_s: number | null;
}

function inSpan(l: LabelSpan, ts: number, grace: number): boolean {
  return ts >= l.onsetMs && ts <= l.endMs + grace;
}

export function detectionFigures(input: DetectionInput): { scenarios: DetectionScenarioResult[]; overall: OverallDetection } {
  const { labels, reports, blocks, graceMs } = input;
  const isTrueFor = (r: ReportMark, l: LabelSpan): boolean => l.clients.includes(r.client) && inSpan(l, r.ts, graceMs);
  const trueReports = new Set<ReportMark>();
  for (const r of reports) if (labels.some((l) => isTrueFor(r, l))) trueReports.add(r);
  const falseReports = reports.filter((r) => !trueReports.has(r));

  const perLabel = labels.map((l) => {
    const hits = reports.filter((r) => isTrueFor(r, l)).sort((a, b) => a.ts - b.ts);
    const blocked = blocks.filter((b) => l.clients.includes(b.client) && inSpan(l, b.ts, graceMs)).sort((a, b) => a.ts - b.ts);
    const timing = attackTiming(input.attackCalls?.get(l.id), l.onsetMs, hits[0]?.ts ?? null);
    return {
      label: l,
      hits,
      detectedClients: new Set(hits.map((h) => h.client)).size,
      ttd: hits[0] ? (hits[0].ts - l.onsetMs) / 1000 : null,
      ttb: blocked[0] ? (blocked[0].ts - l.onsetMs) / 1000 : null,
      ...timing,
    };
  });

  const scenarios: DetectionScenarioResult[] = [];
  for (const name of [...new Set(labels.map((l) => l.scenario))]) {
    const mine = perLabel.filter((p) => p.label.scenario === name);
    const spans = mine.map((p) => p.label);
    const during = (ts: number): boolean => spans.some((l) => inSpan(l, ts, graceMs));
    const trueCount = new Set(mine.flatMap((p) => p.hits)).size;
    const falseCount = falseReports.filter((r) => during(r.ts)).length;
    const minutes = normalMinutesIn(input.normalMinutes, spans, graceMs);
    const clients = mine.reduce((s, p) => s + p.label.clients.length, 0);
    const detected = mine.reduce((s, p) => s + p.detectedClients, 0);
    const first = mine.flatMap((p) => p.hits.slice(0, 1)).sort((a, b) => a.ts - b.ts)[0];
    scenarios.push({
      name,
      recall: clients ? round(detected / clients, 3) : null,
      precision: trueCount + falseCount ? round(trueCount / (trueCount + falseCount), 3) : null,
      false_alarms_per_10k_client_min: minutes ? round((falseCount / minutes) * 10_000, 3) : null,
      ttd_s: nullableRound(median(mine.map((p) => p.ttd))),
      time_to_block_s: nullableRound(median(mine.map((p) => p.ttb))),
      ...(input.attackCalls ? { first_call_s: nullableRound(median(mine.map((p) => p.firstCallS))), calls_to_detect: nullableRound(median(mine.map((p) => p.callsToDetect))) } : {}),
      attacks: mine.length,
      attacks_detected: mine.filter((p) => p.ttd !== null).length,
      clients,
      detected_clients: detected,
      true_reports: trueCount,
      false_alarms: falseCount,
      client_minutes: minutes,
      first_detector: first?.detector ?? null,
    });
  }

  const clientMinutes = [...input.normalMinutes.values()].reduce((a, b) => a + b, 0);
  const totalClients = perLabel.reduce((s, p) => s + p.label.clients.length, 0);
  const ttds = perLabel.map((p) => p.ttd).filter((t): t is number => t !== null);
  const overall: OverallDetection = {
    recall: labels.length ? round(perLabel.filter((p) => p.ttd !== null).length / labels.length, 3) : null,
    client_recall: totalClients ? round(perLabel.reduce((s, p) => s + p.detectedClients, 0) / totalClients, 3) : null,
    precision: reports.length ? round(trueReports.size / reports.length, 3) : null,
    false_alarms: falseReports.length,
    client_minutes: clientMinutes,
    false_alarms_per_10k_client_min: clientMinutes ? round((falseReports.length / clientMinutes) * 10_000, 3) : null,
    median_ttd_s: nullableRound(median(ttds)),
    max_ttd_s: ttds.length ? Math.max(...ttds) : null,
    median_time_to_block_s: nullableRound(median(perLabel.map((p) => p.ttb))),
  };
  return { scenarios, overall };
}

/** Normal client-minutes in the minutes the spans (+ grace) touch, each minute counted once. */
function normalMinutesIn(byMinute: ReadonlyMap<number, number>, spans: readonly LabelSpan[], graceMs: number): number {
  const minutes = new Set<number>();
  for (const l of spans) for (let m = Math.floor(l.onsetMs / 60_000); m <= Math.floor((l.endMs + graceMs) / 60_000); m++) minutes.add(m);
  let n = 0;
  for (const m of minutes) n += byMinute.get(m) ?? 0;
  return n;
}

function nullableRound(x: number | null): number | null {
  return x === null ? null : round(x, 1);
}
