/**
 * Bounded latency histogram for the load watcher: log-spaced buckets 5% wide from 0.5 ms to
 * ~2 min (254 counters), so a quantile read from it is within 5% of the true value whatever the
 * number of samples, and memory per histogram is fixed (1 KiB). Sliding windows are rings of these.
 */

const MIN_MS = 0.5;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
export const SKETCH_BUCKETS = Math.ceil(Math.log(120_000 / MIN_MS) / LOG_GROWTH) + 1;

export class LatencySketch {
  readonly counts = new Uint32Array(SKETCH_BUCKETS);
  count = 0;
  max = 0;

  add(ms: number): void {
    const v = ms > MIN_MS ? ms : MIN_MS;
    const i = Math.min(SKETCH_BUCKETS - 1, Math.floor(Math.log(v / MIN_MS) / LOG_GROWTH));
    this.counts[i]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  merge(other: LatencySketch): this {
    if (other.count === 0) return this;
    for (let i = 0; i < SKETCH_BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    if (other.max > this.max) this.max = other.max;
    return this;
  }

  reset(): void {
    if (this.count === 0) return;
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }

  /** The q-quantile (0..1): the geometric middle of its bucket, capped at the maximum; null when empty. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < SKETCH_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, MIN_MS * Math.pow(GROWTH, i + 0.5));
    }
    return this.max;
  }
}
