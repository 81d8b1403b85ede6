/**
 * Hour-of-week seasonality of a client's request rate (UTC, Monday 00:00 = bucket 0): an EWMA of
 * log1p(requests per 60 s window) per bucket. A bucket is used once it has `minSamples` windows
 * (20 minutes of that hour seen), so a client needs history in that hour of the week before its
 * seasonal expectation applies. 168 × (4 + 4 + 2) bytes.
 */
export const HOURS_PER_WEEK = 168;
const HOUR_MS = 3_600_000;

/** 1970-01-01 was a Thursday: +72 h makes Monday 00:00 UTC bucket 0. */
export function hourOfWeek(ts: number): number {
  return (Math.floor(ts / HOUR_MS) + 72) % HOURS_PER_WEEK;
}

export class HourOfWeekProfile {
  private readonly mean = new Float32Array(HOURS_PER_WEEK);
  private readonly absResidual = new Float32Array(HOURS_PER_WEEK);
  private readonly count = new Uint16Array(HOURS_PER_WEEK);

  constructor(
    private readonly alpha = 0.05,
    private readonly minSamples = 20,
  ) {}

  /** `logRate`: log1p of the requests of one 60 s window that ended at `ts`. */
  update(ts: number, logRate: number): void {
    const b = hourOfWeek(ts - 1);
    const n = this.count[b]!;
    const a = n * this.alpha < 1 ? 1 / (n + 1) : this.alpha;
    const residual = logRate - this.mean[b]!;
    if (n === 0) this.mean[b] = logRate;
    else {
      this.mean[b]! += a * residual;
      this.absResidual[b]! += a * (Math.abs(residual) - this.absResidual[b]!);
    }
    if (n < 65535) this.count[b] = n + 1;
  }

  /** Expected log1p(requests per 60 s) for the hour holding `ts`, or null while that bucket is young. */
  expected(ts: number): { logRate: number; spread: number; bucket: number } | null {
    const b = hourOfWeek(ts);
    if (this.count[b]! < this.minSamples) return null;
    return { logRate: this.mean[b]!, spread: 1.25 * this.absResidual[b]!, bucket: b };
  }

  samples(bucket: number): number {
    return this.count[bucket]!;
  }

  /** Copies of the per-bucket arrays (state snapshots). */
  exportState(): { mean: Float32Array; absResidual: Float32Array; count: Uint16Array } {
    return { mean: this.mean.slice(), absResidual: this.absResidual.slice(), count: this.count.slice() };
  }

  importState(s: { mean: ArrayLike<number>; absResidual: ArrayLike<number>; count: ArrayLike<number> }): void {
    if (s.mean.length !== HOURS_PER_WEEK || s.absResidual.length !== HOURS_PER_WEEK || s.count.length !== HOURS_PER_WEEK) throw new Error('hour-of-week state has another shape');
    this.mean.set(s.mean);
    this.absResidual.set(s.absResidual);
    this.count.set(s.count);
  }

  static readonly bytes = HOURS_PER_WEEK * 10 + 32;
}

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** `Tue 09:00` for explanations. */
export function bucketLabel(bucket: number): string {
  return `${DAYS[Math.floor(bucket / 24)]} ${String(bucket % 24).padStart(2, '0')}:00 UTC`;
}
