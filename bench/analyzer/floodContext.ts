/**
 * The volumetric-burst scenario against its population: for each seed, the flood's peak rate (its
 * busiest 10 s window) beside the busiest 10 s windows of the normal clients of the same tier, up
 * to the flood's end. The analyzer judges a young key by its tier's busiest members (a flood must
 * exceed youngVolumeFactor × theirs), so a flood slower than its peers' ordinary peaks is not
 * volumetric by that bar — this says which seeds are such.
 *
 *   npm run build && node dist/bench/analyzer/floodContext.js --seeds 101-115
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createSimulation, defaultScenarios } from '../../simulator/index.js';
import { parseSeeds } from './detection.js';

const WINDOW_MS = 10_000;

export interface FloodContext {
  readonly seed: number;
  readonly tier: string;
  /** req/s in the flood's busiest 10 s window. */
  readonly floodPeak: number;
  /** req/s in the busiest 10 s windows of the tier's normal clients (top 3, descending). */
  readonly tierPeaks: readonly number[];
}

export function floodContext(seed: number, clients = 500, durationMs = 3 * 3_600_000): FloodContext | null {
  const sim = createSimulation({ seed, duration: durationMs, population: { clients }, scenarios: defaultScenarios(durationMs) });
  const flood = sim.labels.find((l) => l.scenario === 'volumetric-burst');
  if (!flood) return null;
  const attackers = new Set(sim.labels.flatMap((l) => l.clients));
  const floodKeys = new Set(flood.clients);
  const floodCounts = new Map<number, number>();
  const counts = new Map<string, number>();
  let tier = '';
  for (const e of sim.events()) {
    if (e.ts > flood.endMs) break;
    const w = Math.floor(e.ts / WINDOW_MS);
    if (floodKeys.has(e.client)) {
      tier = e.tier ?? '';
      floodCounts.set(w, (floodCounts.get(w) ?? 0) + 1);
      continue;
    }
    if (attackers.has(e.client)) continue;
    const k = `${e.tier ?? ''}|${e.client}@${w}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const peers = [...counts].filter(([k]) => k.startsWith(tier + '|')).map(([, n]) => n).sort((a, b) => b - a);
  const perSecond = (n: number): number => Math.round((n / (WINDOW_MS / 1000)) * 10) / 10;
  return { seed, tier, floodPeak: perSecond(Math.max(0, ...floodCounts.values())), tierPeaks: peers.slice(0, 3).map(perSecond) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: 'string', default: '1' } } });
  for (const seed of parseSeeds(values.seeds!)) {
    const c = floodContext(seed);
    if (!c) continue;
    const ratio = c.tierPeaks[0] ? (c.floodPeak / c.tierPeaks[0]).toFixed(2) : '-';
    process.stdout.write(`seed ${seed}: flood peak ${c.floodPeak}/s (tier ${c.tier}); the tier's busiest normal clients ${c.tierPeaks.join(', ')}/s; flood ÷ busiest ${ratio}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
