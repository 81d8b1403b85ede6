/**
 * What `bench/run.ts` runs: the parts, the groups the command line accepts, and each part's budget
 * (full ≈ 9 min on 2 cores: engine 1.5, http 3, propagation + events 0.4, ingest 1, detection 0.3,
 * nab 0.1, load 3; --quick ≈ 2.5 min).
 */
export const PARTS = ['engine', 'http', 'propagation', 'events', 'ingest', 'detection', 'nab', 'load'] as const;
export type Part = (typeof PARTS)[number];
const GROUPS: Record<string, readonly Part[]> = {
  all: PARTS,
  sidecar: ['http', 'propagation', 'events'],
  analyzer: ['ingest', 'detection', 'nab'],
};

/** The parts named on the command line, in run order (unknown names throw). */
export function selectParts(names: readonly string[]): Part[] {
  const wanted = new Set<Part>();
  for (const n of names.length ? names : ['all']) {
    const group = GROUPS[n] ?? ((PARTS as readonly string[]).includes(n) ? [n as Part] : null);
    if (!group) throw new Error(`unknown part '${n}' (all, ${Object.keys(GROUPS).filter((g) => g !== 'all').join(', ')}, ${PARTS.join(', ')})`);
    for (const p of group) wanted.add(p);
  }
  return PARTS.filter((p) => wanted.has(p));
}

export interface Budget {
  readonly reps: number;
  readonly engineSeconds: number;
  /** Unpipelined redis-benchmark requests per repetition (twice as many pipelined). */
  readonly redisBenchmarkRequests: number;
  readonly httpSeconds: number;
  /** Fixed-rate (half of max) latency pairs per sidecar repetition; the report takes the median over repetitions. */
  readonly latencyReps: number;
  readonly blocks: number;
  readonly eventSeconds: number;
  /**
   * Events through the analyzer's ingest run (null: its default), offered at its default rate in
   * simulated time; at 100k/s from 20k clients it takes ≥ 20 s of simulated time before windows are
   * scored (1.2M scored none, so "with scoring" measured counters only).
   */
  readonly ingestEvents: number | null;
  readonly lagSeconds: number;
  readonly detectionHours: number;
}

export function budget(quick: boolean, reps?: number): Budget {
  return quick
    ? { reps: reps ?? 1, engineSeconds: 1, redisBenchmarkRequests: 20_000, httpSeconds: 2, latencyReps: 1, blocks: 100, eventSeconds: 3, ingestEvents: null, lagSeconds: 5, detectionHours: 1 }
    : { reps: reps ?? 3, engineSeconds: 2, redisBenchmarkRequests: 50_000, httpSeconds: 3, latencyReps: 1, blocks: 200, eventSeconds: 5, ingestEvents: 2_000_000, lagSeconds: 15, detectionHours: 3 };
}

