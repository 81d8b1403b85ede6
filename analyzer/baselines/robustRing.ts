/**
 * The last `length` values of each feature and their median and MAD (simple-statistics),
 * recomputed every `every` pushes rather than per window: the robust centre and spread of a
 * baseline change slowly, and sorting on every close would cost more than everything else.
 * σ = 1.4826 · MAD (consistent with the standard deviation for normal data). `high` is the 99th
 * percentile: what the busiest normal members of a population reach.
 */
import { medianSorted, quantileSorted } from 'simple-statistics';

/** Scratch columns, reused across rings (scoring runs on one thread, one ring at a time). */
let scratch = new Float64Array(1024);
let deviations = new Float64Array(1024);

export const MAD_TO_SIGMA = 1.4826;

export class RobustRing {
  private readonly values: Float32Array;
  private pos = 0;
  private filled = 0;
  private sinceStats: number;
  readonly centre: Float32Array;
  readonly sigma: Float32Array;
  readonly high: Float32Array;
  /** Non-NaN values per feature behind centre/sigma. */
  readonly support: Uint16Array;

  constructor(
    readonly width: number,
    readonly length: number,
    private readonly every: number,
  ) {
    this.values = new Float32Array(width * length).fill(NaN);
    this.centre = new Float32Array(width).fill(NaN);
    this.sigma = new Float32Array(width).fill(NaN);
    this.high = new Float32Array(width).fill(NaN);
    this.support = new Uint16Array(width);
    this.sinceStats = every;
  }

  get size(): number {
    return this.filled;
  }

  push(vector: ArrayLike<number>): void {
    const base = this.pos * this.width;
    for (let i = 0; i < this.width; i++) this.values[base + i] = vector[i]!;
    this.pos = (this.pos + 1) % this.length;
    if (this.filled < this.length) this.filled++;
    // early on (few values) every push matters; later the statistics move slowly
    if (++this.sinceStats >= Math.min(this.every, Math.ceil(this.filled / 2))) this.recompute();
  }

  /** Value `back` pushes ago (0 = the latest), or NaN. */
  value(back: number, feature: number): number {
    if (back >= this.filled) return NaN;
    const slot = (this.pos - 1 - back + this.length * 2) % this.length;
    return this.values[slot * this.width + feature]!;
  }

  recompute(): void {
    this.sinceStats = 0;
    if (scratch.length < this.filled) {
      scratch = new Float64Array(this.filled);
      deviations = new Float64Array(this.filled);
    }
    for (let f = 0; f < this.width; f++) {
      let n = 0;
      for (let r = 0; r < this.filled; r++) {
        const v = this.values[r * this.width + f]!;
        if (v === v) scratch[n++] = v; // not NaN
      }
      this.support[f] = n;
      if (n === 0) {
        this.centre[f] = NaN;
        this.sigma[f] = NaN;
        this.high[f] = NaN;
        continue;
      }
      // typed-array sort: numeric, no comparator calls
      const column = scratch.subarray(0, n).sort();
      const m = medianSorted(column as unknown as number[]);
      this.centre[f] = m;
      this.high[f] = quantileSorted(column as unknown as number[], 0.99);
      if (column[0] === column[n - 1]) {
        this.sigma[f] = 0;
        continue;
      }
      for (let i = 0; i < n; i++) deviations[i] = Math.abs(column[i]! - m);
      this.sigma[f] = n > 1 ? MAD_TO_SIGMA * medianSorted(deviations.subarray(0, n).sort() as unknown as number[]) : 0;
    }
  }

  get bytes(): number {
    return this.values.byteLength + this.centre.byteLength * 3 + this.support.byteLength + 32;
  }
}
