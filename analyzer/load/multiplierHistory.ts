/**
 * The load multiplier's changes over time, per service — what the UI's load page charts. A bounded
 * ring (oldest dropped first, counted); only changes are recorded, not the periodic refreshes.
 * Its `list()` has the LoadPoint shape the operator API reads (analyzer/api/backend.ts).
 */

export interface LoadHistoryPoint {
  readonly ts: number;
  readonly service: string;
  readonly multiplier: number;
  /** Per-tier multipliers (priority shedding). */
  readonly tiers: Readonly<Record<string, number>>;
  readonly reason: string;
  readonly action: 'tighten' | 'recover' | 'hold' | 'restore';
}

export class MultiplierHistory {
  private readonly points: LoadHistoryPoint[] = [];
  private head = 0;
  dropped = 0;

  constructor(readonly max = 2_000) {}

  add(point: LoadHistoryPoint): void {
    if (this.points.length < this.max) this.points.push(point);
    else {
      this.points[this.head] = point;
      this.head = (this.head + 1) % this.max;
      this.dropped++;
    }
  }

  /** Oldest first; optionally one service and points since `since`. */
  list(service?: string, since = -Infinity): LoadHistoryPoint[] {
    const ordered = this.head === 0 ? this.points.slice() : [...this.points.slice(this.head), ...this.points.slice(0, this.head)];
    return ordered.filter((p) => (service === undefined || p.service === service) && p.ts >= since);
  }

  get size(): number {
    return this.points.length;
  }
}
