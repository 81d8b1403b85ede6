/**
 * The load experiment (issue 6): a fixed-capacity upstream — the simulator's stub with `workers`
 * parallel slots of `serviceMs` and a bounded queue (latency rises with concurrency, 503 past the
 * queue) — behind a real `ratewarden sidecar` process, offered open-loop load in steps from 0.5× to
 * 3× its capacity and back, with a tier mix (free 60%, pro 30%, enterprise 10%). Three cases, each
 * its own sidecar process in front of the same upstream process:
 *
 *   no limiter       the sidecar proxies, nothing limits
 *   static limit     one global concurrency rule hand-tuned to the upstream (workers + 2 in flight; 429 past it)
 *   ratewarden       upstream.adaptiveConcurrency (gradient2): sheds with 503, lower priorities first
 *
 * Printed and written: bench/out/load.json (figures) and bench/out/load.svg (throughput, goodput and
 * p99 over time per case, the load steps shaded). Figures are defined in figures.ts.
 *
 * The machine: 2 shared cores run the load generator (this process), the sidecar and the upstream.
 * Capacity is latency-based (12 workers × 40 ms ≈ 294 req/s, 3× ≈ 880 req/s offered), low enough
 * that the CPU is not the bottleneck — the upstream's slots are.
 *
 *   node --import tsx bench/load/run.ts [--quick] [--dump]   (full ≈ 3 min, quick ≈ 45 s; --dump: every answer as JSON lines)
 *   npm run bench:load
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { runOfferedLoad, type OfferedLoadTier } from '../../simulator/drivers/http.js';
import { binAnswers, caseFigures, type Answer, type CaseFigures, type Step } from './figures.js';
import { renderLoadSvg } from './plot.js';
import { startCapacityStub, startSidecarProcess, type Child } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const IS_TS = import.meta.url.endsWith('.ts');
/** bench/out/ in the repository (from sources or from dist/bench/load). */
const OUT = IS_TS ? join(HERE, '..', 'out') : join(HERE, '..', '..', '..', 'bench', 'out');

export interface LoadBenchOptions {
  readonly quick?: boolean;
  readonly log?: (line: string) => void;
  /** Where load.svg and load.json go (default bench/out). */
  readonly outDir?: string;
  /** Also write every answer per case (JSON lines) there, for analysis. */
  readonly dumpAnswers?: boolean;
}

export interface LoadCaseResult extends CaseFigures {
  readonly name: string;
  readonly sent: number;
  readonly skipped: number;
}

export interface LoadBenchResult {
  /** The ratewarden (adaptive) case's figures against the issue's targets. */
  readonly goodput_ratio: number;
  readonly p99_ratio: number | null;
  readonly enterprise_success: number;
  readonly react_s: number | null;
  readonly recovery_s: number | null;
  readonly targets: { goodput_ratio: number; p99_ratio: number; enterprise_success: number; react_s: number; recovery_s: number };
  readonly met: Record<string, boolean>;
  readonly capacity: { workers: number; serviceMs: number; queueLimit: number; rps: number };
  readonly steps: ReadonlyArray<{ factor: number; ratePerSec: number; durationMs: number }>;
  readonly cases: LoadCaseResult[];
  readonly svg: string;
}

const CAPACITY = { workers: 12, serviceMs: 40, queueLimit: 200 };
/** The stub draws service times from a log-normal (σ 0.2) around serviceMs: mean = serviceMs × e^(σ²/2). */
const CAPACITY_RPS = (CAPACITY.workers * 1000) / (CAPACITY.serviceMs * Math.exp(0.02));
const STATIC_LIMIT = CAPACITY.workers + 2;

const TIERS: OfferedLoadTier[] = [
  { tier: 'free', share: 0.6, apiKeys: Array.from({ length: 20 }, (_, i) => `free-key-${i}`) },
  { tier: 'pro', share: 0.3, apiKeys: Array.from({ length: 10 }, (_, i) => `pro-key-${i}`) },
  { tier: 'enterprise', share: 0.1, apiKeys: Array.from({ length: 5 }, (_, i) => `enterprise-key-${i}`) },
];

function policyYaml(extra: string): string {
  const clients = TIERS.flatMap((t) => t.apiKeys.map((k) => `  "apiKey:${k}": { tier: ${t.tier} }`)).join('\n');
  return `version: 1
identity: { apiKey: { header: x-api-key } }
clients:
${clients}
tiers: { free: {}, pro: {}, enterprise: { shedPriority: 0 } }
store: { kind: memory }
headers: [x-ratelimit]
${extra}`;
}

// every case lets the sidecar open as many upstream connections as the upstream has slots + queue,
// so what is measured is the upstream's queue, not one in the sidecar's connection pool
const CASES: ReadonlyArray<{ name: string; policy: string }> = [
  { name: 'no limiter', policy: policyYaml('upstream: { connections: 512 }\nrules: []\n') },
  {
    name: `static limit (${STATIC_LIMIT} in flight)`,
    policy: policyYaml(`upstream: { connections: 512 }\nrules:\n  - { id: static, key: [global], algorithm: concurrency, limit: ${STATIC_LIMIT}, tiers: false }\n`),
  },
  {
    name: 'ratewarden adaptive (gradient2)',
    policy: policyYaml('upstream: { connections: 512, adaptiveConcurrency: { strategy: gradient2, minLimit: 4, maxLimit: 200, initialLimit: 20 } }\nrules: []\n'),
  },
];

function stepsFor(quick: boolean): Step[] {
  const plan: Array<[number, number]> = quick
    ? [
        [0.5, 3_000],
        [3, 5_000],
        [0.5, 4_000],
      ]
    : [
        [0.5, 8_000],
        [1, 6_000],
        [2, 6_000],
        [3, 15_000],
        [1, 5_000],
        [0.5, 12_000],
      ];
  let t = 0;
  return plan.map(([factor, durationMs]) => {
    const s = { factor, ratePerSec: Math.round(CAPACITY_RPS * factor), durationMs, startMs: t };
    t += durationMs;
    return s;
  });
}

async function runCase(name: string, url: string, steps: readonly Step[]): Promise<{ answers: Answer[]; sent: number; skipped: number }> {
  const answers: Answer[] = [];
  const result = await runOfferedLoad({
    baseUrl: url,
    ratePerSec: steps[0]!.ratePerSec,
    durationMs: 1,
    schedule: steps.map((s) => ({ ratePerSec: s.ratePerSec, durationMs: s.durationMs })),
    tiers: TIERS,
    seed: `load-bench/${name}`,
    maxInFlight: 2_048,
    connections: 768,
    timeoutMs: 10_000,
    onResult: (tier, status, latencyMs, sentAt) => answers.push({ tier, status, latencyMs, sentAt }),
  });
  return { answers, sent: result.sent, skipped: result.skipped };
}

function fmt(x: number | null, unit = ''): string {
  return x === null ? 'never' : `${x}${unit}`;
}

export async function runLoadBench(opts: LoadBenchOptions = {}): Promise<LoadBenchResult> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const steps = stepsFor(opts.quick ?? false);
  const dir = mkdtempSync(join(tmpdir(), 'rw-load-bench-'));
  const children: Child[] = [];
  try {
    log(`load experiment${opts.quick ? ' (quick)' : ''}: upstream ${CAPACITY.workers} workers × ${CAPACITY.serviceMs} ms, queue ${CAPACITY.queueLimit} → capacity ≈ ${Math.round(CAPACITY_RPS)} req/s`);
    log(`steps: ${steps.map((s) => `${s.factor}× (${s.ratePerSec}/s, ${s.durationMs / 1000}s)`).join(' → ')}; tiers free 60% / pro 30% / enterprise 10%`);
    const stub = await startCapacityStub(CAPACITY);
    children.push(stub);
    const sidecars = await Promise.all(CASES.map((c, i) => startSidecarProcess(c.policy, stub.url, dir, `case-${i}`)));
    children.push(...sidecars);
    const cases: LoadCaseResult[] = [];
    const plots: Array<{ name: string; bins: ReturnType<typeof binAnswers>; unloadedP99: number | null }> = [];
    const totalMs = steps.reduce((s, st) => s + st.durationMs, 0);
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[i]!;
      await sleep(1_500); // the upstream's queue from the previous case drains
      log(`-- ${c.name}`);
      const { answers, sent, skipped } = await runCase(c.name, sidecars[i]!.url, steps);
      const figures = caseFigures(answers, steps, CAPACITY_RPS);
      if (opts.dumpAnswers) {
        mkdirSync(opts.outDir ?? OUT, { recursive: true });
        writeFileSync(join(opts.outDir ?? OUT, `load-answers-${i}.jsonl`), answers.map((a) => JSON.stringify(a)).join('\n') + '\n');
      }
      cases.push({ name: c.name, sent, skipped, ...figures });
      plots.push({ name: c.name, bins: binAnswers(answers, totalMs), unloadedP99: figures.unloaded_p99_ms });
      log(
        `   goodput at 3× ${figures.goodput_rps}/s (${Math.round(figures.goodput_ratio * 100)}% of capacity), p99 ${fmt(figures.p99_ms, ' ms')} (${fmt(figures.p99_ratio, '×')} unloaded ${fmt(figures.unloaded_p99_ms, ' ms')}), ` +
          `success ${Object.entries(figures.success)
            .map(([t, s]) => `${t} ${(s * 100).toFixed(1)}%`)
            .join(' ')}, react ${fmt(figures.react_s, ' s')} (first shed ${fmt(figures.first_shed_s, ' s')}), recovery ${fmt(figures.recovery_s, ' s')}` +
          (skipped ? `, ${skipped} not sent (generator cap)` : ''),
      );
    }
    const adaptive = cases.at(-1)!;
    const targets = { goodput_ratio: 0.95, p99_ratio: 2, enterprise_success: 0.99, react_s: 2, recovery_s: 10 };
    const met = {
      goodput_ratio: adaptive.goodput_ratio >= targets.goodput_ratio,
      p99_ratio: adaptive.p99_ratio !== null && adaptive.p99_ratio <= targets.p99_ratio,
      enterprise_success: adaptive.enterprise_success >= targets.enterprise_success,
      react_s: adaptive.react_s !== null && adaptive.react_s <= targets.react_s,
      recovery_s: adaptive.recovery_s !== null && adaptive.recovery_s <= targets.recovery_s,
    };
    const svg = renderLoadSvg(plots, steps, CAPACITY_RPS, `Offered load 0.5× → 3× → 0.5× of a ${Math.round(CAPACITY_RPS)} req/s upstream`);
    const outDir = opts.outDir ?? OUT;
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'load.svg'), svg);
    const result: LoadBenchResult = {
      goodput_ratio: adaptive.goodput_ratio,
      p99_ratio: adaptive.p99_ratio,
      enterprise_success: adaptive.enterprise_success,
      react_s: adaptive.react_s,
      recovery_s: adaptive.recovery_s,
      targets,
      met,
      capacity: { ...CAPACITY, rps: Math.round(CAPACITY_RPS * 10) / 10 },
      steps: steps.map(({ factor, ratePerSec, durationMs }) => ({ factor, ratePerSec, durationMs })),
      cases,
      svg: join(outDir, 'load.svg'),
    };
    writeFileSync(join(outDir, 'load.json'), JSON.stringify(result, null, 2) + '\n');
    log(`ratewarden at 3×: goodput ${adaptive.goodput_ratio} of capacity (≥ 0.95: ${met.goodput_ratio}), p99 ${fmt(adaptive.p99_ratio, '×')} unloaded (≤ 2: ${met.p99_ratio}), enterprise ${adaptive.enterprise_success} (≥ 0.99: ${met.enterprise_success}), react ${fmt(adaptive.react_s, ' s')} (≤ 2: ${met.react_s}), recovery ${fmt(adaptive.recovery_s, ' s')} (≤ 10: ${met.recovery_s})`);
    log(`wrote ${join(outDir, 'load.svg')} and load.json`);
    return result;
  } finally {
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runLoadBench({ quick: process.argv.includes('--quick'), dumpAnswers: process.argv.includes('--dump') }).then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
