/**
 * Exponentially weighted mean and variance per feature (West's incremental form). The first
 * samples weigh 1/n so a young baseline is an ordinary mean, not a drift from zero. NaN values
 * (a feature without meaning in that window) leave the feature unchanged, and so do infinite ones
 * and any step whose result would not be finite: one Infinity would make the variance NaN (∞ − ∞)
 * and every later mean with it, for good.
 */
export class EwmaVector {
  readonly mean: Float64Array;
  readonly variance: Float64Array;
  readonly count: Uint32Array;

  constructor(readonly size: number) {
    this.mean = new Float64Array(size);
    this.variance = new Float64Array(size);
    this.count = new Uint32Array(size);
  }

  update(values: ArrayLike<number>, alpha: number): void {
    for (let i = 0; i < this.size; i++) {
      const x = values[i]!;
      if (!Number.isFinite(x)) continue;
      const n = this.count[i]! + 1;
      const a = n * alpha < 1 ? 1 / n : alpha;
      const diff = x - this.mean[i]!;
      const incr = a * diff;
      const mean = this.mean[i]! + incr;
      const variance = (1 - a) * (this.variance[i]! + diff * incr);
      if (!Number.isFinite(mean) || !Number.isFinite(variance)) continue;
      this.count[i] = n;
      this.mean[i] = mean;
      this.variance[i] = variance;
    }
  }

  std(i: number): number {
    return Math.sqrt(this.variance[i]!);
  }

  static bytes(size: number): number {
    return size * 20;
  }
}

/** One exponentially weighted scalar (the slow baselines of the low-and-slow rule). */
export function ewmaStep(mean: number, n: number, x: number, alpha: number): number {
  const a = n * alpha < 1 ? 1 / (n + 1) : alpha;
  return n === 0 ? x : mean + a * (x - mean);
}
