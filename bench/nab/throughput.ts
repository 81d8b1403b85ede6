/**
 * Updates/s and state size of the series detector per profile (and the z-score baseline).
 * A quick sanity benchmark: final figures belong to a quiet machine.
 *
 *   node --import tsx bench/nab/throughput.ts [--seconds 2]
 */
import { parseArgs } from 'node:util';
import { createSeriesDetector, createZScoreDetector, type SeriesDetector } from '../../analyzer/detectors/series/index.js';

export interface ThroughputResult {
  detector: string;
  updatesPerSecond: number;
  stateBytes: number;
}

/** Many independent series updated round-robin, like the analyzer's per-client detectors. */
export function measure(name: string, make: () => SeriesDetector, seconds: number, seriesCount = 1000): ThroughputResult {
  const detectors = Array.from({ length: seriesCount }, make);
  // a per-minute count series with a daily rhythm and noise, precomputed so only update() is timed
  const n = 1 << 16;
  const xs = new Float64Array(n);
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    xs[i] = 100 + 30 * Math.sin((2 * Math.PI * i) / 1440) + (seed / 2 ** 32) * 20;
  }
  const t0 = Date.UTC(2024, 0, 1);
  let updates = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let step = 0;
  while (process.hrtime.bigint() - start < budget) {
    for (let k = 0; k < 10_000; k++) {
      const i = step % n;
      const d = detectors[step % seriesCount]!;
      sink += d.update(xs[i]!, t0 + Math.floor(step / seriesCount) * 60_000);
      step++;
    }
    updates += 10_000;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) console.log(sink); // keep the work observable
  return { detector: name, updatesPerSecond: Math.round(updates / elapsed), stateBytes: detectors[0]!.stateBytes };
}

if (process.argv[1] && import.meta.filename === (await import('node:path')).resolve(process.argv[1])) {
  const { values } = parseArgs({ options: { seconds: { type: 'string' } } });
  const seconds = Number(values.seconds ?? 2);
  const results = [
    measure('series/light', () => createSeriesDetector({ profile: 'light' }), seconds),
    measure('series/full', () => createSeriesDetector({ profile: 'full' }), seconds),
    measure('zscore', () => createZScoreDetector(), seconds),
  ];
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}
