/**
 * The volumetric-burst scenario against its population: for each seed and window size (10 s, 60 s),
 * the flood's busiest window beside the bar the volumetric rule holds a key without history to. Such
 * a key is judged by its tier (analyzer/baselines/population.ts): the 99th percentile of the tier's
 * last 1,024 clean windows of that size, times youngVolumeFactor (2; the factor moves towards
 * volumeFactor as the key's own history grows, so the first minute is where a young flood is
 * caught). This recomputes that percentile from the simulated events — the tier's normal clients'
 * active windows that closed before the onset, the last 1,024 of them — an approximation of the
 * analyzer's ring (which holds only windows it scored clean, in its own order). A flood below the bar
 * in both sizes runs at the level of its tier's busiest clients of the minutes before. Also printed:
 * the busiest windows of the tier's normal clients up to the flood's end.
 *
 *   npm run build && node dist/bench/analyzer/floodContext.js --seeds 101-115
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { quantileSorted } from 'simple-statistics';
import { DEFAULT_DETECTION } from '../../analyzer/options.js';
import { POPULATION_RING } from '../../analyzer/baselines/population.js';
import { createSimulation, defaultScenarios } from '../../simulator/index.js';
import { parseSeeds } from './detection.js';

const WINDOWS_MS = [10_000, 60_000] as const;

export interface FloodWindowContext {
  readonly sizeMs: number;
  /** Requests in the flood's busiest window of this size. */
  readonly floodPeak: number;
  /** 99th percentile of requests over the tier's last POPULATION_RING normal active windows closed before the onset. */
  readonly tierP99: number;
  /** What the volumetric rule asks of a key without history: youngVolumeFactor × tierP99. */
  readonly youngBar: number;
  /** Requests in the busiest windows of the tier's normal clients up to the flood's end (top 3, descending). */
  readonly tierPeaks: readonly number[];
}

export interface FloodContext {
  readonly seed: number;
  readonly tier: string;
  readonly windows: readonly FloodWindowContext[];
}

export function floodContext(seed: number, clients = 500, durationMs = 3 * 3_600_000, youngVolumeFactor = DEFAULT_DETECTION.youngVolumeFactor): FloodContext | null {
  const sim = createSimulation({ seed, duration: durationMs, population: { clients }, scenarios: defaultScenarios(durationMs) });
  const flood = sim.labels.find((l) => l.scenario === 'volumetric-burst');
  if (!flood) return null;
  const attackers = new Set(sim.labels.flatMap((l) => l.clients));
  const floodKeys = new Set(flood.clients);
  const floodCounts = WINDOWS_MS.map(() => new Map<number, number>());
  // per window size, per tier: window index → client → requests
  const windows = WINDOWS_MS.map(() => new Map<string, Map<number, Map<string, number>>>());
  let tier = '';
  for (const e of sim.events()) {
    if (e.ts > flood.endMs) break;
    WINDOWS_MS.forEach((size, k) => {
      const w = Math.floor(e.ts / size);
      if (floodKeys.has(e.client)) {
        tier = e.tier ?? '';
        floodCounts[k]!.set(w, (floodCounts[k]!.get(w) ?? 0) + 1);
        return;
      }
      if (attackers.has(e.client)) return;
      const t = e.tier ?? '';
      let byWindow = windows[k]!.get(t);
      if (!byWindow) windows[k]!.set(t, (byWindow = new Map()));
      let byClient = byWindow.get(w);
      if (!byClient) byWindow.set(w, (byClient = new Map()));
      byClient.set(e.client, (byClient.get(e.client) ?? 0) + 1);
    });
  }
  const out = WINDOWS_MS.map((size, k): FloodWindowContext => {
    const byWindow = windows[k]!.get(tier) ?? new Map<number, Map<string, number>>();
    const onsetWindow = Math.floor(flood.onsetMs / size);
    const before: number[] = [];
    for (const w of [...byWindow.keys()].filter((w) => w < onsetWindow).sort((a, b) => b - a)) {
      before.push(...byWindow.get(w)!.values());
      if (before.length >= POPULATION_RING) break;
    }
    const ring = before.slice(0, POPULATION_RING).sort((a, b) => a - b);
    const tierP99 = ring.length ? quantileSorted(ring, 0.99) : 0;
    const peaks = [...byWindow.values()].flatMap((m) => [...m.values()]).sort((a, b) => b - a);
    return { sizeMs: size, floodPeak: Math.max(0, ...floodCounts[k]!.values()), tierP99, youngBar: youngVolumeFactor * tierP99, tierPeaks: peaks.slice(0, 3) };
  });
  return { seed, tier, windows: out };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: 'string', default: '1' } } });
  process.stdout.write("| seed | tier | window | flood's busiest | tier p99 before onset | young bar | flood ÷ bar | tier's busiest normal windows |\n|---|---|---|---|---|---|---|---|\n");
  for (const seed of parseSeeds(values.seeds!)) {
    const c = floodContext(seed);
    if (!c) continue;
    for (const w of c.windows) {
      const ratio = w.youngBar > 0 ? (w.floodPeak / w.youngBar).toFixed(2) : '-';
      process.stdout.write(`| ${seed} | ${c.tier} | ${w.sizeMs / 1000} s | ${w.floodPeak} | ${w.tierP99.toFixed(0)} | ${w.youngBar.toFixed(0)} | ${ratio} | ${w.tierPeaks.join(', ')} |\n`);
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
