/**
 * The one stable shape of bench/results.json, so runs can be compared over time: exactly the
 * top-level sections below, each always present. A figure that was not measured (part not run,
 * peer not installed, part failed) is null, never absent; the section then says why in `skipped`.
 * Sections may carry extra fields (details, repetitions, notes). `validateResults` is checked before
 * anything is written.
 */
import { z } from 'zod';
import type { MachineInfo } from '../machine.js';

const num = z.number().refine(Number.isFinite, 'must be a finite number').nullable();
const ratios = z.record(z.string(), num);

export const PART_STATUS = ['ok', 'not installed', 'failed', 'skipped'] as const;

const machine = z.looseObject({
  cores: z.number().int().positive(),
  cpu: z.string(),
  memory_gb: z.number(),
  node: z.string(),
  redis: z.string().nullable(),
  kafka: z.string().nullable(),
  os: z.string(),
  date: z.string().refine((d) => !Number.isNaN(Date.parse(d)), 'must be an ISO date'),
  load_start: z.number(),
  load_end: z.number().nullable(),
});

const httpCase = z.looseObject({
  name: z.string().min(1),
  rps: num,
  p50_ms: num,
  p99_ms: num,
  ratio_vs: ratios,
  status: z.enum(PART_STATUS),
});

const engineCase = z.looseObject({
  name: z.string().min(1),
  implementation: z.string(),
  store: z.enum(['memory', 'redis']).nullable(),
  rules: z.number().int().positive().nullable(),
  decisions_per_s: num,
  p50_ms: num,
  p99_ms: num,
  ratio_vs: ratios,
});

const scenario = z.looseObject({
  name: z.string().min(1),
  recall: num,
  precision: num,
  false_alarms_per_10k_client_min: num,
  ttd_s: num,
  time_to_block_s: num,
});

const skipped = { skipped: z.string().optional() };

export const resultsSchema = z.strictObject({
  machine,
  cases: z.array(httpCase),
  engine: z.array(engineCase),
  propagation_ms: z.looseObject({ p50: num, p99: num, ...skipped }),
  events: z.looseObject({ sent_per_s: num, dropped: num, ...skipped }),
  analyzer: z.looseObject({ events_per_s: num, ...skipped }),
  detection: z.looseObject({
    nab_dev: z.looseObject({ standard: num, low_fp: num, low_fn: num, ...skipped }),
    scenarios: z.array(scenario),
    ...skipped,
  }),
  load: z.looseObject({ goodput_ratio: num, p99_ratio: num, enterprise_success: num, react_s: num, ...skipped }),
});

export type Num = number | null;
export type PartStatus = (typeof PART_STATUS)[number];

export interface HttpCaseResult {
  readonly name: string;
  readonly rps: Num;
  readonly p50_ms: Num;
  readonly p99_ms: Num;
  /** rps of this case / rps of the peer, by peer id (see PEERS in cases.ts). */
  readonly ratio_vs: Record<string, Num>;
  readonly status: PartStatus;
  readonly note?: string;
  /** rps of each repetition (the figure is their median). */
  readonly reps?: Num[];
}

export interface EngineCaseResult {
  readonly name: string;
  /** `ratewarden`, `rate-limiter-flexible`, `redis-benchmark`. */
  readonly implementation: string;
  readonly store: 'memory' | 'redis' | null;
  readonly rules: number | null;
  readonly decisions_per_s: Num;
  readonly p50_ms: Num;
  readonly p99_ms: Num;
  readonly ratio_vs: Record<string, Num>;
  readonly note?: string;
  readonly reps?: Num[];
}

export interface DetectionScenarioResult {
  readonly name: string;
  /** Share of the scenario's attacking clients reported during the attack (+ grace). */
  readonly recall: Num;
  /** Of the reports raised during the attack (+ grace), the share that named its attackers. */
  readonly precision: Num;
  /** False reports during the attack per 10,000 normal client-minutes of the same span. */
  readonly false_alarms_per_10k_client_min: Num;
  /** Onset → first report on an attacker. */
  readonly ttd_s: Num;
  /** Onset → first block written to the control plane for an attacker. */
  readonly time_to_block_s: Num;
  readonly [extra: string]: unknown;
}

export interface BenchResults {
  machine: MachineInfo & Record<string, unknown>;
  cases: HttpCaseResult[];
  engine: EngineCaseResult[];
  propagation_ms: { p50: Num; p99: Num; skipped?: string; [extra: string]: unknown };
  events: { sent_per_s: Num; dropped: Num; skipped?: string; [extra: string]: unknown };
  analyzer: { events_per_s: Num; skipped?: string; [extra: string]: unknown };
  detection: {
    nab_dev: { standard: Num; low_fp: Num; low_fn: Num; skipped?: string; [extra: string]: unknown };
    scenarios: DetectionScenarioResult[];
    skipped?: string;
    [extra: string]: unknown;
  };
  load: { goodput_ratio: Num; p99_ratio: Num; enterprise_success: Num; react_s: Num; skipped?: string; [extra: string]: unknown };
}

/** Every section present, every figure null: what a run starts from before its parts fill it in. */
export function emptyResults(machine: MachineInfo, why = 'not run'): BenchResults {
  return {
    machine: { ...machine },
    cases: [],
    engine: [],
    propagation_ms: { p50: null, p99: null, skipped: why },
    events: { sent_per_s: null, dropped: null, skipped: why },
    analyzer: { events_per_s: null, skipped: why },
    detection: { nab_dev: { standard: null, low_fp: null, low_fn: null, skipped: why }, scenarios: [], skipped: why },
    load: { goodput_ratio: null, p99_ratio: null, enterprise_success: null, react_s: null, skipped: why },
  };
}

/** The problems with a results object (`path: message`), empty when it has the stable shape. */
export function validateResults(value: unknown): string[] {
  const r = resultsSchema.safeParse(value);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
}
