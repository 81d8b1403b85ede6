/**
 * The run's plots (bench/out/*.svg): throughput and p50/p99 per HTTP case, engine decisions/s per
 * case, and one detection timeline per attack (the highest fused score among its attackers and among
 * normal clients, the attack shaded, first report and first block marked). The load experiment draws
 * its own plot (bench/out/load.svg), linked from the report.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineLine } from '../machine.js';
import type { BlockMark, ReportMark } from './detectionFigures.js';
import type { Timeline } from './detectionRecorder.js';
import type { BenchResults } from './shape.js';
import { barChart, lineChart, type Mark } from './svg.js';

export interface PlotInputs {
  readonly timelines?: readonly Timeline[];
  readonly reports?: readonly ReportMark[];
  readonly blocks?: readonly BlockMark[];
  readonly graceMs?: number;
  /** Score thresholds of the evaluation policy's actions, drawn as reference lines. */
  readonly thresholds?: ReadonlyArray<{ y: number; label: string }>;
}

/** SVG documents by file name. */
export function renderPlots(r: BenchResults, inputs: PlotInputs = {}): Map<string, string> {
  const files = new Map<string, string>();
  const foot = machineLine(r.machine);
  const http = r.cases.filter((c) => c.status === 'ok' && !c.name.includes(' @ '));
  if (http.length) {
    files.set('sidecar-throughput.svg', barChart({ title: 'HTTP throughput per case (median, wrk closed loop)', categories: http.map((c) => c.name), series: [{ name: 'requests/s', values: http.map((c) => c.rps) }], unit: 'requests per second', footnote: foot }));
    files.set('sidecar-latency.svg', barChart({ title: 'HTTP latency per case at maximum throughput (median)', categories: http.map((c) => c.name), series: [{ name: 'p50 ms', values: http.map((c) => c.p50_ms) }, { name: 'p99 ms', values: http.map((c) => c.p99_ms) }], unit: 'milliseconds', footnote: foot }));
  }
  if (r.engine.length) {
    files.set('engine.svg', barChart({ title: 'Engine decisions per second (median)', categories: r.engine.map((e) => e.name.replace(/ \(\d+ per \d+ s\)/, '')), series: [{ name: 'decisions/s', values: r.engine.map((e) => e.decisions_per_s) }], unit: 'decisions per second', width: 1000, footnote: foot }));
    files.set('engine-latency.svg', barChart({ title: 'Engine decision latency (median)', categories: r.engine.map((e) => e.name.replace(/ \(\d+ per \d+ s\)/, '')), series: [{ name: 'p50 ms', values: r.engine.map((e) => e.p50_ms) }, { name: 'p99 ms', values: r.engine.map((e) => e.p99_ms) }], unit: 'milliseconds', width: 1000, footnote: foot }));
  }
  const grace = inputs.graceMs ?? 120_000;
  const labelOf = new Map<string, string>();
  for (const t of inputs.timelines ?? []) for (const c of t.label.clients) labelOf.set(c, t.label.id);
  for (const t of inputs.timelines ?? []) {
    const l = t.label;
    const minutes = (ms: number): number => (ms - l.onsetMs) / 60_000;
    const points = (series: Float64Array): Array<[number, number | null]> => holdScores(series, t.bucketMs).map((v, i) => [minutes(t.fromMs + (i + 1) * t.bucketMs), v]);
    const marks: Mark[] = [];
    const firstReport = (inputs.reports ?? []).filter((r) => l.clients.includes(r.client) && r.ts >= l.onsetMs && r.ts <= l.endMs + grace).sort((a, b) => a.ts - b.ts)[0];
    if (firstReport) marks.push({ x: minutes(firstReport.ts), label: `reported +${Math.round((firstReport.ts - l.onsetMs) / 1000)} s (${firstReport.detector ?? firstReport.action})`, color: '#1d4ed8' });
    const firstBlock = (inputs.blocks ?? []).filter((b) => l.clients.includes(b.client) && b.ts >= l.onsetMs && b.ts <= l.endMs + grace).sort((a, b) => a.ts - b.ts)[0];
    if (firstBlock) marks.push({ x: minutes(firstBlock.ts), label: `blocked +${Math.round((firstBlock.ts - l.onsetMs) / 1000)} s`, color: '#b91c1c' });
    // other reports in view: another attack's, or a false alarm on a normal client
    const others = (inputs.reports ?? []).filter((r) => r.ts >= t.fromMs && r.ts <= t.fromMs + t.attacker.length * t.bucketMs && !l.clients.includes(r.client));
    for (const f of others.slice(0, 6)) {
      const other = labelOf.get(f.client);
      marks.push(other ? { x: minutes(f.ts), label: `report on ${other}`, color: '#6b7280' } : { x: minutes(f.ts), label: `false alarm (${f.client.slice(0, 24)})`, color: '#7c3aed' });
    }
    files.set(
      `detection-${l.id.replace(/[^a-z0-9-]+/gi, '-').replace(/-+$/, '')}.svg`,
      lineChart({
        title: `Detection timeline: ${l.id} (${l.clients.length} attacking client${l.clients.length === 1 ? '' : 's'})`,
        xLabel: 'minutes from attack onset',
        yLabel: 'fused anomaly score (highest per bucket)',
        series: [
          { name: 'attacking clients', points: points(t.attacker), color: '#dc2626' },
          { name: 'normal clients', points: points(t.normal), color: '#6b7280' },
        ],
        bands: [{ from: 0, to: minutes(l.endMs), label: 'attack' }],
        marks,
        hlines: inputs.thresholds ?? [],
        yMin: 0,
        yMax: 1,
        xFormat: (x) => `${Math.round(x * 10) / 10}`,
        footnote: `${Math.round(t.bucketMs / 1000)} s buckets · ${foot}`,
      }),
    );
  }
  return files;
}

/** A window's score stands until the next one, for at most the longest window (60 s); then the line breaks. */
export function holdScores(series: Float64Array, bucketMs: number, holdMs = 60_000): Array<number | null> {
  const out: Array<number | null> = [];
  let last: number | null = null;
  let age = 0;
  for (const v of series) {
    if (!Number.isNaN(v)) {
      last = v;
      age = 0;
    } else if (last !== null && (age += bucketMs) >= holdMs) last = null;
    out.push(Number.isNaN(v) ? last : v);
  }
  return out;
}

/** Writes the plots into `dir`; returns their paths relative to the repository (bench/out/…). */
export function writePlots(dir: string, files: ReadonlyMap<string, string>, relativeTo = 'bench/out'): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, svg] of files) {
    writeFileSync(join(dir, name), svg);
    written.push(`${relativeTo}/${name}`);
  }
  return written;
}
