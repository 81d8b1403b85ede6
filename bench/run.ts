/**
 * `npm run bench`: every benchmark in one go, peers measured in the same run, one table.
 *
 *   node dist/bench/run.js [PART...] [--quick] [--reps N] [--no-infra] [--out FILE]
 *
 * PART: all (default) | engine | sidecar (= http propagation events) | analyzer (= ingest detection
 * nab) | load | http | propagation | events | ingest | detection | nab — or `soak [--minutes N]`
 * (bench/soak/run.ts, run on its own). Parts run one after another,
 * never in parallel (2 cores). Throughput/latency parts (engine, http) are repeated (3× full, 1×
 * --quick) and each figure is the median of the repetitions. Budgets in report/parts.ts (full ≈
 * 9 min on 2 cores, --quick ≈ 2.5 min).
 *
 * Starts Redis and Kafka (scripts/infra/up.sh, idempotent) and installs missing tools
 * (scripts/ensure-bench-tools.sh) unless --no-infra. Prints one markdown report on stdout (progress
 * goes to stderr); writes bench/results.json (full `all`) or bench/out/results-<parts>[-quick].json, validated
 * against the stable shape (report/shape.ts) first, the plots to bench/out/*.svg and the report to
 * bench/out/summary.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parsePolicy } from '../models/policy/index.js';
import { run as runEngine, type EngineBenchRow } from './engine/run.js';
import { run as runSidecar, type BenchRow } from './sidecar/run.js';
import { run as runAnalyzer } from './analyzer/run.js';
import { EVAL_POLICY, evaluateDetection, formatDetection } from './analyzer/detection.js';
import { runNabBench } from './nab/run.js';
import { runLoadBench } from './load/run.js';
import { run as runPropagation } from './propagation/run.js';
import { run as runEvents } from './events/run.js';
import { describeMachine, finishMachine, infraEnv, REPO } from './machine.js';
import { engineCases, httpCases, HTTP_PEERS, stableHttpRow } from './report/cases.js';
import { detectionFigures } from './report/detectionFigures.js';
import { DetectionRecorder } from './report/detectionRecorder.js';
import { renderPlots, writePlots, type PlotInputs } from './report/plots.js';
import { emptyResults, validateResults, type BenchResults, type PartStatus } from './report/shape.js';
import { medianRows } from './report/stats.js';
import { summaryMarkdown } from './report/summary.js';
import { budget, PARTS, selectParts, type Part } from './report/parts.js';

const DETECTION_CLIENTS = 500;
const GRACE_MS = 120_000;

function log(line: string): void {
  process.stderr.write(line + '\n');
}

function errorText(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]!.slice(0, 300);
}

function ensureInfra(): void {
  for (const [script, args] of [
    ['scripts/infra/up.sh', []],
    ['scripts/ensure-bench-tools.sh', []],
  ] as const) {
    const r = spawnSync('bash', [join(REPO, script), ...args], { cwd: REPO, stdio: ['ignore', 2, 2] });
    if (r.status !== 0) log(`bench: ${script} exited with ${r.status}; parts that need it will report why`);
  }
}

/** Why an expected HTTP case produced no figure. */
function missingHttpCase(name: string, logs: readonly string[], failure: string | null): { status: PartStatus; note: string } {
  if (failure) return { status: 'failed', note: failure };
  if (name === HTTP_PEERS.nginx && !['/usr/sbin/nginx', '/usr/bin/nginx'].some((p) => existsSync(p))) return { status: 'not installed', note: 'nginx not installed (apt-get install nginx-light)' };
  const env = infraEnv();
  if (/Redis/.test(name) && !env.REDIS_URL) return { status: 'skipped', note: 'no Redis (REDIS_URL / .infra.env)' };
  if (/Kafka/.test(name) && !env.KAFKA_BROKERS) return { status: 'skipped', note: 'no Kafka (KAFKA_BROKERS / .infra.env)' };
  const failed = logs.find((l) => l.includes('(failed:'));
  return { status: 'failed', note: failed ? failed.trim().replace(/^\(failed: |\)$/g, '') : 'no figure in any repetition (see the log)' };
}

interface RunOptions {
  readonly parts: readonly Part[];
  readonly quick: boolean;
  readonly reps?: number;
}

interface RunOutcome {
  readonly results: BenchResults;
  readonly plots: PlotInputs;
  readonly durations: Array<{ part: Part; seconds: number; status: string }>;
  readonly reps: number;
}

export async function runBench(o: RunOptions): Promise<RunOutcome> {
  const b = budget(o.quick, o.reps);
  const started = performance.now();
  const results = emptyResults(await describeMachine());
  let plots: PlotInputs = {};
  const durations: RunOutcome['durations'] = [];

  const steps: Record<Part, () => Promise<void>> = {
    engine: async () => {
      const reps: EngineBenchRow[][] = [];
      for (let i = 0; i < b.reps; i++) {
        log(`engine: repetition ${i + 1}/${b.reps}`);
        reps.push((await runEngine({ quick: o.quick, seconds: b.engineSeconds, redisBenchmarkRequests: b.redisBenchmarkRequests, log: (l) => log(`  ${l}`) })).rows);
      }
      results.engine = engineCases(medianRows(reps, 'decisionsPerSec'));
    },
    http: async () => {
      const reps: BenchRow[][] = [];
      const logs: string[] = [];
      let failure: string | null = null;
      for (let i = 0; i < b.reps; i++) {
        log(`sidecar: repetition ${i + 1}/${b.reps}`);
        try {
          const rows = await runSidecar({ quick: o.quick, seconds: b.httpSeconds, latencyReps: b.latencyReps, log: (l) => (logs.push(l), log(`  ${l}`)) });
          reps.push(rows.map(stableHttpRow));
        } catch (err) {
          failure = errorText(err);
          log(`  repetition failed: ${failure}`);
        }
      }
      results.cases = httpCases(medianRows(reps, 'rps'), (name) => missingHttpCase(name, logs, reps.length ? null : failure));
    },
    propagation: async () => {
      results.propagation_ms = { ...(await runPropagation({ blocks: b.blocks, log })) };
    },
    events: async () => {
      results.events = { ...(await runEvents({ seconds: b.eventSeconds, log })) };
    },
    ingest: async () => {
      const a = await runAnalyzer({ quick: o.quick, kafka: true, detection: false, ...(b.ingestEvents ? { ingestEvents: b.ingestEvents } : {}), lagSeconds: b.lagSeconds, log: (l) => log(`  ${l}`) });
      const { detection: _ignored, ...rest } = a;
      results.analyzer = { events_per_s: a.ingest_events_per_s, ...rest };
    },
    detection: async () => {
      const recorder = new DetectionRecorder(GRACE_MS);
      await recorder.attach();
      const durationMs = b.detectionHours * 3_600_000;
      log(`detection: ${b.detectionHours} h of simulated traffic, ${DETECTION_CLIENTS} clients, the default scenarios`);
      const ev = await evaluateDetection({ seed: 1, durationMs, clients: DETECTION_CLIENTS, graceMs: GRACE_MS, controlPlane: recorder.controlPlane, observer: recorder });
      log(formatDetection(ev).replace(/^/gm, '  '));
      const figures = detectionFigures({ labels: recorder.labels, reports: recorder.reports, blocks: recorder.blocks, normalMinutes: recorder.normalMinutes, graceMs: GRACE_MS, attackCalls: ev.attackCalls });
      const { skipped: _s, ...kept } = results.detection;
      results.detection = {
        ...kept,
        scenarios: figures.scenarios,
        overall: figures.overall,
        simulation: { seed: 1, hours: b.detectionHours, clients: DETECTION_CLIENTS, events: ev.events, seconds: ev.seconds, grace_s: GRACE_MS / 1000 },
      };
      const policy = parsePolicy(EVAL_POLICY);
      const thresholds = policy.ok ? policy.policy.analyzer.actions.map((a) => ({ y: a.minScore, label: `${a.action} ≥ ${a.minScore}` })) : [];
      plots = { ...plots, timelines: recorder.timelines, reports: recorder.reports, blocks: recorder.blocks, graceMs: GRACE_MS, thresholds };
    },
    nab: async () => {
      log('nab: ratewarden replay on ../shared/data/nab-dev (series detector, z-score baseline)');
      const n = await runNabBench();
      log(`  standard ${n.standard}, low_fp ${n.low_fp}, low_fn ${n.low_fn} (${n.files} files); baseline ${n.baseline.detector} ${n.baseline.standard}`);
      results.detection.nab_dev = { ...n };
    },
    load: async () => {
      const l = await runLoadBench({ quick: o.quick, log: (line) => log(`  ${line}`) });
      const { svg, ...rest } = l;
      results.load = { ...rest, plot: relative(REPO, svg) };
    },
  };

  for (const part of o.parts) {
    const t0 = performance.now();
    log(`\n== ${part} (${Math.round((t0 - started) / 1000)} s into the run)`);
    let status = 'ok';
    try {
      await steps[part]();
    } catch (err) {
      status = 'failed';
      const why = `failed: ${errorText(err)}`;
      log(`${part} ${why}`);
      markFailed(results, part, why);
    }
    const seconds = (performance.now() - t0) / 1000;
    durations.push({ part, seconds, status });
    log(`== ${part}: ${seconds.toFixed(1)} s`);
  }
  results.machine = {
    ...finishMachine(results.machine),
    quick: o.quick,
    repetitions: b.reps,
    parts: durations.map((d) => ({ part: d.part, seconds: Math.round(d.seconds * 10) / 10, status: d.status })),
    total_s: Math.round((performance.now() - started) / 100) / 10,
  };
  return { results, plots, durations, reps: b.reps };
}

function markFailed(r: BenchResults, part: Part, why: string): void {
  switch (part) {
    case 'propagation':
      r.propagation_ms = { p50: null, p99: null, skipped: why };
      break;
    case 'events':
      r.events = { sent_per_s: null, dropped: null, skipped: why };
      break;
    case 'ingest':
      r.analyzer = { events_per_s: null, skipped: why };
      break;
    case 'detection':
      r.detection = { ...r.detection, scenarios: [], skipped: why };
      break;
    case 'nab':
      r.detection.nab_dev = { standard: null, low_fp: null, low_fn: null, skipped: why };
      break;
    case 'load':
      r.load = { goodput_ratio: null, p99_ratio: null, enterprise_success: null, react_s: null, skipped: why };
      break;
    case 'engine':
      r.engine = [];
      break;
    case 'http':
      r.cases = [];
      break;
  }
}

async function main(): Promise<number> {
  // `soak [--minutes N] [--rate R]`: the bounded soak (bench/soak/run.ts), on its own, never part of `all`
  if (process.argv[2] === 'soak') return (await import('./soak/run.js')).main(process.argv.slice(3));
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { quick: { type: 'boolean', default: false }, reps: { type: 'string' }, 'no-infra': { type: 'boolean', default: false }, out: { type: 'string' } },
  });
  const parts = selectParts(positionals);
  const everything = parts.length === PARTS.length;
  if (!values['no-infra']) ensureInfra();
  const outDir = join(REPO, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const { results, plots, durations, reps } = await runBench({ parts, quick: values.quick, ...(values.reps ? { reps: Number(values.reps) } : {}) });

  const problems = validateResults(results);
  if (problems.length) {
    writeFileSync(join(outDir, 'results.invalid.json'), JSON.stringify(results, null, 2) + '\n');
    log(`bench: results do not have the stable shape, not written (see bench/out/results.invalid.json):\n  ${problems.join('\n  ')}`);
    return 1;
  }
  // bench/results.json holds the figures of a full run only; parts and --quick runs write beside the plots
  const out = values.out ?? (everything && !values.quick ? join(REPO, 'bench', 'results.json') : join(outDir, `results-${positionals.join('-') || 'all'}${values.quick ? '-quick' : ''}.json`));
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  const written = writePlots(outDir, renderPlots(results, plots));
  if (parts.includes('load') && results.load.plot) written.push(String(results.load.plot));
  const npmScript = everything ? 'bench' : positionals.length === 1 && ['engine', 'sidecar', 'analyzer', 'load'].includes(positionals[0]!) ? `bench:${positionals[0]}` : null;
  const flags = [values.quick ? '--quick' : '', values.reps ? `--reps ${values.reps}` : ''].filter(Boolean).join(' ');
  const command = npmScript ? `npm run ${npmScript}${flags ? ` -- ${flags}` : ''}` : `npm run build && node dist/bench/run.js ${positionals.join(' ')}${flags ? ` ${flags}` : ''}`;
  const md = summaryMarkdown(results, { command, output: relative(REPO, out), plots: written, reps, durations });
  writeFileSync(join(outDir, 'summary.md'), md);
  process.stdout.write('\n' + md);
  log(`bench: wrote ${relative(REPO, out)}, bench/out/summary.md and ${written.length} plots in ${results.machine.total_s as number} s`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // a part awaiting something that can no longer happen would otherwise end the process silently, exit 0
  let finished = false;
  process.once('beforeExit', () => {
    if (finished) return;
    log('bench: a part never finished (it awaited something nothing could resolve); no results written');
    process.exit(1);
  });
  main().then(
    (code) => {
      finished = true;
      process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
