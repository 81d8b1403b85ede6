/**
 * Detection quality on the simulator's labelled attack scenarios: the simulation's events are fed
 * through the analyzer (the same Analyzer class `ratewarden analyzer` runs) on simulated time, one
 * tick per simulated second, and the reports it opens are matched against the ground truth.
 *
 * - recall: share of attacks (labels) with a report on one of their clients between onset and
 *   end + 2 min; per-client recall is printed too.
 * - false alarms: reports on clients outside every label (or outside their label's window), per
 *   10,000 active client-minutes (a client is active in a minute when it sent at least one event).
 * - time to detect: first true report − onset; beside it the attack's first call − onset and the
 *   attack's calls up to that report (a slow attack's first calls may come well after its onset).
 * Targets (issue 5): recall ≥ 0.95, ≤ 1 false alarm per 10k client-minutes, detection ≤ 30 s.
 *
 * As a command, the same evaluation over several seeds (the bench runs seed 1 only):
 *   node dist/bench/analyzer/detection.js [--seeds 1-5] [--hours 3] [--clients 500] [--options JSON]
 */
import { parsePolicy, type Policy } from '../../models/policy/index.js';
import { MemoryControlPlane, type ControlPlane } from '../../models/controlPlane.js';
import type { CallEvent } from '../../models/events.js';
import type { AnomalyReport } from '../../models/anomaly.js';
import { loadTf } from '../../models/ml/backend.js';
import { AutoencoderScorer } from '../../models/ml/autoencoder.js';
import { createSimulation, defaultScenarios, type GroundTruthLabel, type ScenarioSpec } from '../../simulator/index.js';
import { Analyzer, type TickResult } from '../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../analyzer/reports/memoryStore.js';
import { loadSeriesFactory } from '../../analyzer/detectors/seriesScorer.js';
import { shippedModelDir } from '../../analyzer/model.js';
import { DEFAULT_DETECTION, type DetectionOptions } from '../../analyzer/options.js';
import { attackTiming } from '../report/detectionFigures.js';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const EVAL_POLICY = `
version: 1
identity: { apiKey: { header: x-api-key } }
rules:
  - { id: per-key, key: [apiKey], algorithm: sliding-window-counter, limit: 1000, window: 60s }
tiers: { free: {}, pro: { multiplier: 4 }, enterprise: { multiplier: 12 } }
analyzer:
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
    - { minScore: 0.7, action: tighten, multiplier: 0.2, ttl: 10m }
  cooldown: 5m
  maxClients: 100000
`;

export interface DetectionEvalOptions {
  readonly seed?: number;
  readonly durationMs?: number;
  readonly clients?: number;
  readonly scenarios?: readonly ScenarioSpec[];
  readonly autoencoder?: boolean;
  readonly detection?: Partial<DetectionOptions>;
  /** Grace after a label's end in which reports still count as true. */
  readonly graceMs?: number;
  readonly log?: (line: string) => void;
  /** The analyzer's control plane (default: a fresh in-memory one), e.g. to see when blocks are written. */
  readonly controlPlane?: ControlPlane;
  /** Watches the run as it happens (the benchmark harness draws timelines and per-scenario figures from it). */
  readonly observer?: DetectionObserver;
}

export interface DetectionObserver {
  /** The ground truth and the simulated span, before the first event. */
  start?(labels: readonly GroundTruthLabel[], startMs: number, endMs: number): void;
  /** Every simulated event, in order, with the id of the label whose attack sent it (null: normal traffic). */
  event?(e: CallEvent, label: string | null): void;
  /** After each analyzer tick at simulated time `now` (its effects, control-plane writes included, are done). */
  tick?(now: number, result: TickResult): void;
}

export interface LabelResult {
  readonly id: string;
  readonly scenario: string;
  readonly clients: number;
  readonly detectedClients: number;
  readonly detected: boolean;
  readonly timeToDetectS: number | null;
  /** Onset → the attack's first call. */
  readonly firstCallS: number | null;
  /** The attack's calls up to its first true report. */
  readonly callsToDetect: number | null;
  readonly firstDetector: string | null;
}

export interface DetectionEval {
  readonly recall: number;
  readonly clientRecall: number;
  readonly falseAlarms: number;
  readonly clientMinutes: number;
  readonly falseAlarmsPer10kClientMinutes: number;
  readonly medianTimeToDetectS: number | null;
  readonly maxTimeToDetectS: number | null;
  readonly labels: readonly LabelResult[];
  readonly falseAlarmSamples: ReadonlyArray<{ client: string; ts: string; score: number; summary: string }>;
  /** False alarms by the detector that scored highest. */
  readonly falseAlarmsByDetector: Readonly<Record<string, number>>;
  readonly serviceReports: number;
  /** Times of each label's own calls (label id → epoch ms, in order). */
  readonly attackCalls: ReadonlyMap<string, readonly number[]>;
  readonly events: number;
  readonly seconds: number;
}

export async function evaluateDetection(opts: DetectionEvalOptions = {}): Promise<DetectionEval> {
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  const durationMs = opts.durationMs ?? 3 * 3_600_000;
  const sim = createSimulation({ seed: opts.seed ?? 1, duration: durationMs, population: { clients: opts.clients ?? 500 }, scenarios: opts.scenarios ?? defaultScenarios(durationMs) });
  const parsed = parsePolicy(EVAL_POLICY);
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join('; '));
  const policy: Policy = parsed.policy;
  let now = sim.startMs;
  let autoencoder: AutoencoderScorer | null = null;
  if (opts.autoencoder !== false) autoencoder = await AutoencoderScorer.load(await loadTf(log), shippedModelDir());
  const reports = new MemoryReportStore();
  const observer = opts.observer ?? {};
  observer.start?.(sim.labels, sim.startMs, sim.endMs);
  const analyzer = new Analyzer({ policy, controlPlane: opts.controlPlane ?? new MemoryControlPlane(), reports, clock: () => now, autoencoder, series: await loadSeriesFactory(), ...(opts.detection ? { detection: opts.detection } : {}) });
  const opened: AnomalyReport[] = [];
  const activeMinutes = new Set<string>();
  let batch: CallEvent[] = [];
  let nextTick = sim.startMs + 1_000;
  let events = 0;
  const attackCalls = new Map<string, number[]>(sim.labels.map((l) => [l.id, []]));
  for (const call of sim.calls()) {
    const e = call.event;
    while (e.ts >= nextTick) {
      now = nextTick;
      analyzer.ingest(batch);
      batch = [];
      const ticked = await analyzer.tick(now);
      observer.tick?.(now, ticked);
      opened.push(...ticked.opened);
      nextTick += 1_000;
    }
    batch.push(e);
    if (call.scenario !== null) attackCalls.get(call.scenario)?.push(e.ts);
    observer.event?.(e, call.scenario);
    events++;
    activeMinutes.add(`${e.client}@${Math.floor(e.ts / 60_000)}`);
  }
  now = sim.endMs;
  analyzer.ingest(batch);
  const last = await analyzer.tick(now);
  observer.tick?.(now, last);
  opened.push(...last.opened);
  now = sim.endMs + 10_000;
  const finished = await analyzer.finish(now);
  observer.tick?.(now, finished);
  opened.push(...finished.opened);

  const grace = opts.graceMs ?? 120_000;
  const labelOf = new Map<string, (typeof sim.labels)[number]>();
  for (const l of sim.labels) for (const c of l.clients) labelOf.set(c, l);
  const attackClients = new Set(labelOf.keys());
  const clientReports = opened.filter((r) => !r.client.startsWith('service:'));
  const isTrue = (r: AnomalyReport): boolean => {
    const l = labelOf.get(r.client);
    return l !== undefined && r.ts >= l.onsetMs && r.ts <= l.endMs + grace;
  };
  const falseReports = clientReports.filter((r) => !isTrue(r));
  // the denominator is the normal client-minutes in which a false alarm could have been raised:
  // nothing is decided during the warm-up (the first warmupMs of event time)
  const warmEndMinute = Math.ceil((sim.startMs + (opts.detection?.warmupMs ?? DEFAULT_DETECTION.warmupMs)) / 60_000);
  let clientMinutes = 0;
  for (const key of activeMinutes) {
    const at = key.lastIndexOf('@');
    if (Number(key.slice(at + 1)) >= warmEndMinute && !attackClients.has(key.slice(0, at))) clientMinutes++;
  }
  const labels: LabelResult[] = sim.labels.map((l) => {
    const hits = clientReports.filter((r) => l.clients.includes(r.client) && isTrue(r)).sort((a, b) => a.ts - b.ts);
    const first = hits[0];
    return {
      id: l.id,
      scenario: l.scenario,
      clients: l.clients.length,
      detectedClients: new Set(hits.map((h) => h.client)).size,
      detected: hits.length > 0,
      timeToDetectS: first ? (first.ts - l.onsetMs) / 1000 : null,
      ...attackTiming(attackCalls.get(l.id), l.onsetMs, first?.ts ?? null),
      firstDetector: first ? topDetector(first) : null,
    };
  });
  const ttd = labels.filter((l) => l.timeToDetectS !== null).map((l) => l.timeToDetectS!).sort((a, b) => a - b);
  const totalClients = labels.reduce((s, l) => s + l.clients, 0);
  return {
    recall: labels.length ? labels.filter((l) => l.detected).length / labels.length : 1,
    clientRecall: totalClients ? labels.reduce((s, l) => s + l.detectedClients, 0) / totalClients : 1,
    falseAlarms: falseReports.length,
    clientMinutes,
    falseAlarmsPer10kClientMinutes: clientMinutes ? (falseReports.length / clientMinutes) * 10_000 : 0,
    medianTimeToDetectS: ttd.length ? ttd[Math.floor((ttd.length - 1) / 2)]! : null,
    maxTimeToDetectS: ttd.length ? ttd[ttd.length - 1]! : null,
    labels,
    falseAlarmsByDetector: countBy(falseReports.map((r) => topDetector(r))),
    falseAlarmSamples: falseReports.slice(0, Number(process.env.RW_EVAL_SAMPLES ?? 20)).map((r) => ({ client: r.client, ts: new Date(r.ts).toISOString(), score: r.score, summary: r.summary })),
    serviceReports: opened.length - clientReports.length,
    attackCalls,
    events,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

function topDetector(r: AnomalyReport): string {
  return Object.entries(r.detectors).sort((a, b) => b[1] - a[1])[0]?.[0] ?? '-';
}

function countBy(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

export function formatDetection(r: DetectionEval): string {
  const lines = [
    `detection on simulator scenarios: recall ${r.recall.toFixed(2)} (clients ${r.clientRecall.toFixed(2)}), false alarms ${r.falseAlarms} = ${r.falseAlarmsPer10kClientMinutes.toFixed(2)} per 10k client-minutes (${r.clientMinutes} client-minutes), time to detect median ${r.medianTimeToDetectS ?? '-'} s, max ${r.maxTimeToDetectS ?? '-'} s; ${r.events} events in ${r.seconds} s`,
  ];
  for (const l of r.labels) lines.push(`  ${l.id.padEnd(24)} ${l.detected ? 'detected' : 'MISSED  '} clients ${l.detectedClients}/${l.clients}  ttd ${l.timeToDetectS ?? '-'} s (first attack call ${l.firstCallS ?? '-'} s, ${l.callsToDetect ?? '-'} calls)  by ${l.firstDetector ?? '-'}`);
  if (r.falseAlarms > 0) lines.push(`  false alarms by detector: ${Object.entries(r.falseAlarmsByDetector).sort((a, b) => b[1] - a[1]).map(([d, n]) => `${d} ${n}`).join(', ')}`);
  for (const f of r.falseAlarmSamples) lines.push(`  false alarm ${f.ts} ${f.client} ${f.score}: ${f.summary}`);
  return lines.join('\n');
}

/**
 * `--options '{"youngVolumeFactor":3}'`: detection options over the defaults (analyzer/options.ts),
 * to backtest a threshold before changing it. Top-level names only; a nested group (`compromisedKey`)
 * is replaced whole, so give all its fields.
 */
export function parseDetectionOverrides(text: string | undefined): Partial<DetectionOptions> | null {
  if (text === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`--options: not JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('--options: expected a JSON object');
  const unknown = Object.keys(parsed).filter((k) => !(k in DEFAULT_DETECTION));
  if (unknown.length) throw new Error(`--options: unknown option(s) ${unknown.join(', ')} (see analyzer/options.ts)`);
  for (const [k, v] of Object.entries(parsed)) {
    const d = (DEFAULT_DETECTION as unknown as Record<string, unknown>)[k];
    if (typeof v !== typeof d) throw new Error(`--options: ${k} must be a ${typeof d}`);
    if (typeof d === 'object' && d !== null) {
      const missing = Object.keys(d).filter((f) => typeof (v as Record<string, unknown>)[f] !== typeof (d as Record<string, unknown>)[f]);
      if (missing.length) throw new Error(`--options: ${k} needs all its fields as in the defaults (${missing.join(', ')})`);
    }
  }
  return parsed as Partial<DetectionOptions>;
}

/** `--seeds 1-5` or `1,3,7`. */
export function parseSeeds(text: string): number[] {
  const range = /^(\d+)-(\d+)$/.exec(text);
  const seeds = range ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i) : text.split(',').map(Number);
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`--seeds: expected a range like 1-5 or a list like 1,3,7, got ${text}`);
  return seeds;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: 'string', default: '1-5' }, hours: { type: 'string', default: '3' }, clients: { type: 'string', default: '500' }, options: { type: 'string' } } });
  const detection = parseDetectionOverrides(values.options);
  const hours = Number(values.hours);
  const clients = Number(values.clients);
  if (!(hours > 0) || !(clients > 0)) throw new Error('--hours and --clients must be positive');
  const rows: string[] = [];
  const runs: DetectionEval[] = [];
  for (const seed of parseSeeds(values.seeds!)) {
    const r = await evaluateDetection({ seed, durationMs: hours * 3_600_000, clients, graceMs: 120_000, log: () => undefined, ...(detection ? { detection } : {}) });
    runs.push(r);
    process.stdout.write(`seed ${seed}: ${formatDetection(r)}\n`);
    rows.push(`| ${seed} | ${r.recall.toFixed(2)} | ${r.falseAlarms} (${r.falseAlarmsPer10kClientMinutes.toFixed(2)}) | ${r.labels.map((l) => `${l.scenario} ${l.timeToDetectS ?? '-'} (${l.firstCallS === null ? '-' : Math.round(l.firstCallS)}; ${l.callsToDetect ?? '-'})`).join(' · ')} |`);
  }
  process.stdout.write(`\n| seed | recall | false alarms (per 10k client-min) | time to detect, s (the attack's first call, s; its calls until detected) |\n|---|---|---|---|\n${rows.join('\n')}\n`);
  process.stdout.write(`\n${acrossSeeds(runs)}\n`);
}

/** Per scenario over all seeds: how often detected, how fast, and how much of that the attack's own pace. */
export function acrossSeeds(runs: readonly DetectionEval[]): string {
  const pick = (xs: ReadonlyArray<number | null>): number[] => xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const med = (xs: readonly number[]): string => (xs.length ? String(Math.round(xs[(xs.length - 1) >> 1]!)) : '–');
  const names = [...new Set(runs.flatMap((r) => r.labels.map((l) => l.scenario)))];
  const falseAlarms = runs.reduce((n, r) => n + r.falseAlarms, 0);
  const clientMinutes = runs.reduce((n, r) => n + r.clientMinutes, 0);
  const lines = [`Over ${runs.length} seed(s): false alarms ${falseAlarms} in ${clientMinutes} normal client-minutes (${((falseAlarms / Math.max(1, clientMinutes)) * 10_000).toFixed(2)} per 10k)`, '', '| scenario | detected | time to detect s: median · max | within 30 s | attack\'s first call s: median · max | its calls until detected: median |', '|---|---|---|---|---|---|'];
  for (const name of names) {
    const ls = runs.flatMap((r) => r.labels.filter((l) => l.scenario === name));
    const ttd = pick(ls.map((l) => l.timeToDetectS));
    const first = pick(ls.map((l) => l.firstCallS));
    const calls = pick(ls.map((l) => l.callsToDetect));
    lines.push(`| ${name} | ${ls.filter((l) => l.detected).length}/${ls.length} | ${med(ttd)} · ${ttd.length ? Math.round(ttd[ttd.length - 1]!) : '–'} | ${ttd.filter((t) => t <= 30).length}/${ls.length} | ${med(first)} · ${first.length ? Math.round(first[first.length - 1]!) : '–'} | ${med(calls)} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
