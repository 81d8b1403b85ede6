/**
 * Peaks-over-threshold tail model (the streaming EVT idea of SPOT, Siffer et al. 2017, with an
 * exponential tail): a raw score r is turned into a surprise −log10 P(R ≥ r) estimated from the
 * series' OWN history of raw scores. This is what makes one global threshold work across series
 * of very different noise: a spike that this series produces every day earns a modest surprise.
 *
 * State (4 slots at `at`): count, threshold u (running q-quantile of r, tracked by stochastic
 * approximation), mean excess over u, mean of r. O(1) per update.
 */
import type { SeriesParams } from './params.js';

export const TAIL_SLOTS = 4;
const N = 0;
const U = 1;
const ME = 2;
const MR = 3;

/** Surprise of r under the current tail (0 during the model's warm-up), then learns r. */
export function tailScoreThenLearn(s: Float64Array, at: number, r: number, p: SeriesParams): number {
  let surprise = 0;
  const n = s[at + N]!;
  if (n >= p.warmup) {
    const u = s[at + U]!;
    if (r > u) {
      const me = Math.max(s[at + ME]!, p.tailFloorFrac * Math.max(s[at + MR]!, u) + 1e-3);
      // P(R ≥ r) = (1 − q) · exp(−(r − u) / me)
      surprise = -Math.log10(1 - p.tailQuantile) + (r - u) / me / Math.LN10;
    }
  }
  const count = n + 1;
  s[at + N] = count;
  const a = Math.max(1 / count, p.tailAlpha);
  const mr = s[at + MR]! + a * (r - s[at + MR]!);
  s[at + MR] = mr;
  if (count <= p.warmup) {
    // warm-up: start the threshold at the mean and the excess at the mean absolute deviation
    s[at + U] = mr;
    s[at + ME] = s[at + ME]! + a * (Math.abs(r - mr) - s[at + ME]!);
    return 0;
  }
  const rate = Math.max(p.tailStep, p.tailStepInit / (count - p.warmup));
  const step = rate * Math.max(s[at + ME]!, 1e-12);
  let u = s[at + U]!;
  u += r > u ? step * p.tailQuantile : -step * (1 - p.tailQuantile);
  s[at + U] = u;
  if (r > u) s[at + ME] = s[at + ME]! + p.tailAlpha * (r - u - s[at + ME]!);
  return surprise;
}
