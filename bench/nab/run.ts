/**
 * NAB benchmark of `ratewarden replay`: runs the shared harness (score.sh, see
 * ../shared/tools/nab/README.md) on the dev subset for the series detector and for the z-score
 * baseline, and returns the summary numbers.
 *
 *   node --import tsx bench/nab/run.ts [--subset dev] [--check-causal 5] [--categories]
 *                                       [--nab-dir DIR] [--detector series] [--baseline zscore]
 *
 * Uses the compiled dist/cli/main.js when it exists (faster start), else cli/main.ts via tsx.
 * Prints one JSON object: { standard, low_fp, low_fn, files, causal?, categories?, baseline }.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** The repository root (bench/nab/ from source, dist/bench/nab/ when compiled). */
const ROOT = (() => {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
const SHARED = resolve(ROOT, '..', 'shared');

export interface NabScores {
  standard: number;
  low_fp: number;
  low_fn: number;
  files: number;
}

export interface NabRun extends NabScores {
  detector: string;
  /** present when a causality check ran: files checked and the files whose prefix scores differ */
  causal?: { checked: number; differ: [string, number][] };
  /** per-category scores (each category scored as its own subset, threshold re-optimised) */
  categories?: Record<string, NabScores>;
}

export interface NabBenchResult extends NabRun {
  baseline: NabRun;
}

export interface NabBenchOptions {
  nabDir?: string;
  subset?: string;
  checkCausal?: number;
  categories?: boolean;
  detector?: string;
  baseline?: string;
}

const SUMMARY = /^NAB standard=(-?[\d.]+) low_fp=(-?[\d.]+) low_fn=(-?[\d.]+) files=(\d+)\s*$/m;
const DEV_CATEGORIES = ['artificialWithAnomaly', 'realAdExchange', 'realTraffic'];

/** The detector command score.sh runs per file ({} = the data file). */
export function replayCommand(detector: string): string {
  const dist = join(ROOT, 'dist', 'cli', 'main.js');
  const node = JSON.stringify(process.execPath);
  const main = existsSync(dist) ? JSON.stringify(dist) : `--import tsx ${JSON.stringify(join(ROOT, 'cli', 'main.ts'))}`;
  return `${node} ${main} replay --detector ${detector} {}`;
}

export function parseSummary(stdout: string): NabScores {
  const m = SUMMARY.exec(stdout);
  if (!m) throw new Error(`no NAB summary line in the harness output:\n${stdout.slice(-2000)}`);
  return { standard: Number(m[1]), low_fp: Number(m[2]), low_fn: Number(m[3]), files: Number(m[4]) };
}

function scoreSh(args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile(join(SHARED, 'tools', 'nab', 'score.sh'), args, { cwd: ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`score.sh ${args.slice(1).join(' ')} failed: ${err.message}\n${stderr}\n${stdout}`));
      else done(stdout);
    });
  });
}

export async function runDetector(detector: string, options: NabBenchOptions = {}): Promise<NabRun> {
  const nabDir = options.nabDir ?? join(SHARED, 'data', 'nab-dev');
  const subset = options.subset ?? 'dev';
  const tmp = mkdtempSync(join(tmpdir(), 'rw-nab-'));
  try {
    const json = join(tmp, 'report.json');
    const args = [nabDir, replayCommand(detector), '--subset', subset, '--json', json, '-q'];
    if (options.checkCausal) args.push('--check-causal', String(options.checkCausal));
    const run: NabRun = { detector, ...parseSummary(await scoreSh(args)) };
    if (options.checkCausal) {
      const report = JSON.parse(readFileSync(json, 'utf8')) as { causality: NabRun['causal'] };
      if (report.causality) run.causal = report.causality;
    }
    if (options.categories) {
      run.categories = {};
      for (const cat of DEV_CATEGORIES) {
        run.categories[cat] = parseSummary(await scoreSh([nabDir, replayCommand(detector), '--subset', cat, '-q']));
      }
    }
    return run;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function runNabBench(options: NabBenchOptions = {}): Promise<NabBenchResult> {
  const main = await runDetector(options.detector ?? 'series', options);
  const baseline = await runDetector(options.baseline ?? 'zscore', options);
  return { ...main, baseline };
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'nab-dir': { type: 'string' },
      subset: { type: 'string' },
      'check-causal': { type: 'string' },
      categories: { type: 'boolean' },
      detector: { type: 'string' },
      baseline: { type: 'string' },
    },
  });
  const result = await runNabBench({
    nabDir: values['nab-dir'],
    subset: values.subset,
    checkCausal: values['check-causal'] ? Number(values['check-causal']) : undefined,
    categories: values.categories,
    detector: values.detector,
    baseline: values.baseline,
  });
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  cli().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
