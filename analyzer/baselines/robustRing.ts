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
const FLOAT32_MAX = 3.4028234663852886e38;

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
    for (let i = 0; i < this.width; i++) {
      const v = vector[i]!;
      // a non-finite value (or one past float32's range, which would become Infinity) is kept as a
      // missing one: Infinity in a column makes its MAD Infinity − Infinity = NaN
      this.values[base + i] = v > -FLOAT32_MAX && v < FLOAT32_MAX ? v : NaN;
    }
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

  /**
   * The ring for a state snapshot: the filled rows oldest first, the pushes since the statistics
   * were recomputed, and the statistics as they are (not recomputed: a restored ring scores exactly
   * as the original did).
   */
  exportState(): RobustRingState {
    const rows = new Float32Array(this.filled * this.width);
    for (let k = 0; k < this.filled; k++) {
      const slot = (this.pos - this.filled + k + this.length) % this.length;
      rows.set(this.values.subarray(slot * this.width, (slot + 1) * this.width), k * this.width);
    }
    return { rows, filled: this.filled, sinceStats: this.sinceStats, centre: this.centre.slice(), sigma: this.sigma.slice(), high: this.high.slice(), support: this.support.slice() };
  }

  /** Replaces the ring with one exportState() produced (rows land in slots 0…filled-1); throws on another shape. */
  importState(s: RobustRingState): void {
    const w = this.width;
    if (!(s.filled >= 0 && s.filled <= this.length) || s.rows.length !== s.filled * w || s.centre.length !== w || s.sigma.length !== w || s.high.length !== w || s.support.length !== w) {
      throw new Error('robust ring state has another shape');
    }
    this.values.fill(NaN);
    this.values.set(s.rows);
    this.filled = s.filled;
    this.pos = s.filled % this.length;
    this.sinceStats = s.sinceStats;
    this.centre.set(s.centre);
    this.sigma.set(s.sigma);
    this.high.set(s.high);
    this.support.set(s.support);
  }
}

export interface RobustRingState {
  /** `filled` rows of `width` values, oldest first. */
  readonly rows: Float32Array;
  readonly filled: number;
  readonly sinceStats: number;
  readonly centre: Float32Array;
  readonly sigma: Float32Array;
  readonly high: Float32Array;
  readonly support: Uint16Array;
}
