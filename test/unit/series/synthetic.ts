/** Seeded synthetic series for the detector tests (deterministic: mulberry32 + Box–Muller). */
import { mulberry32 as rng } from '../../../models/ml/prng.js';

export { rng };

export function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

export const T0 = Date.UTC(2024, 0, 1);
export const MINUTE = 60_000;

/** n points, one a minute: level + sd · N(0,1), with a daily sine of `daily` amplitude. */
export function noisySeries(seed: number, n: number, level = 100, sd = 5, daily = 0): { ts: number[]; xs: number[] } {
  const g = gaussian(rng(seed));
  const ts: number[] = [];
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = T0 + i * MINUTE;
    ts.push(t);
    xs.push(level + daily * Math.sin((2 * Math.PI * (t % 86_400_000)) / 86_400_000) + sd * g());
  }
  return { ts, xs };
}
