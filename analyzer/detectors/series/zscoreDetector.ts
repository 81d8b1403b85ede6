/**
 * Baseline for comparison: rolling z-score over the previous `window` values (the shared
 * reference detector zscore.py, in TypeScript). score = z / (1 + z); the first `warmup`
 * points score 0. State: a ring of `window` values plus running sums.
 */
import type { SeriesDetector, SeriesExplanation } from './types.js';

const FORMAT = 101;
// slots: format, window, count, sum, sumSquares, then the ring
const HEAD = 5;

export function createZScoreDetector(options: { window?: number; warmup?: number } = {}): SeriesDetector {
  const window = options.window ?? 300;
  const warmup = options.warmup ?? 20;
  let s = new Float64Array(HEAD + window);
  let last: SeriesExplanation | undefined;
  s[0] = FORMAT;
  s[1] = window;
  return {
    get stateBytes() {
      return s.byteLength;
    },
    serialize: () => s.slice(),
    restore(state: Float64Array) {
      if (state.length !== s.length || state[0] !== FORMAT || state[1] !== window) throw new Error('z-score detector state has another format or window');
      s = state.slice();
      last = undefined;
    },
    explain: () => last,
    update(x: number): number {
      if (!Number.isFinite(x)) return 0;
      const count = s[2]!;
      const held = Math.min(count, window);
      let score = 0;
      if (held >= warmup) {
        // exact two-pass statistics: the window is small and this is a baseline, not a hot path
        let mean = 0;
        for (let i = 0; i < held; i++) mean += s[HEAD + i]!;
        mean /= held;
        let ss = 0;
        for (let i = 0; i < held; i++) ss += (s[HEAD + i]! - mean) ** 2;
        const std = Math.sqrt(ss / (held - 1));
        const d = Math.abs(x - mean);
        const z = std > 0 ? d / std : d === 0 ? 0 : 1e6;
        score = z / (1 + z);
        last = { observed: x, expected: mean, spread: std, z: Math.sign(x - mean) * z, model: 'window' };
      }
      s[HEAD + (count % window)] = x;
      s[2] = count + 1;
      return score;
    },
  };
}
