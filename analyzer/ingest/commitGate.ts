/**
 * Which offset of a partition may be committed while windows are still open: the first offset of
 * the oldest 10 s window whose events have not all been scored yet. Committing no further means a
 * crashed analyzer's open windows are read again by the next owner (and scored there) instead of
 * being lost with the process; report ids are deterministic per client and window, so a window
 * scored again does not duplicate its report.
 *
 * Per partition it keeps the first offset seen for each window end (events arrive roughly in time
 * order, so that is a handful of entries) and the next offset to read. `committable(scoredUntil)`
 * drops the windows that ended by `scoredUntil` (the analyzer's mark: every window ending by then
 * was scored and acted on) and returns the smallest offset still needed. An event whose window was
 * already closed when it arrived is held with the oldest open window (the analyzer folds such late
 * events into an open window). At most `maxWindows` entries per partition; beyond, the oldest entry
 * is forgotten (counted in `forgotten`, exported as `ratewarden_commit_windows_forgotten_total`: its
 * events could be lost at a crash).
 *
 * Pure: the Kafka source feeds it and commits what it returns.
 */
export class CommitGate {
  private readonly parts = new Map<number, { next: number; windows: Map<number, number> }>();
  forgotten = 0;

  constructor(
    readonly windowMs = 10_000,
    readonly maxWindows = 4_096,
  ) {}

  /** An event of `partition` at `offset` with event time `ts`, handed to the analyzer. */
  observe(partition: number, ts: number, offset: number, scoredUntil: number): void {
    const w = this.windowMs;
    let end = ts - (((ts % w) + w) % w) + w;
    if (end <= scoredUntil) {
      // every window scored (+∞): nothing to hold (the arithmetic below would make a NaN entry that holds forever)
      if (!Number.isFinite(scoredUntil)) return;
      end = scoredUntil - (((scoredUntil % w) + w) % w) + w;
    }
    const part = this.part(partition);
    const windows = part.windows;
    if (windows.has(end)) return;
    if (windows.size >= this.maxWindows) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const k of windows.keys()) if (k < oldest) oldest = k;
      windows.delete(oldest);
      this.forgotten++;
    }
    windows.set(end, offset);
  }

  /** Everything before `nextOffset` of `partition` has been handed to the analyzer. */
  handled(partition: number, nextOffset: number): void {
    const part = this.part(partition);
    if (nextOffset > part.next) part.next = nextOffset;
  }

  /** The offset to commit for `partition` now (null: nothing handled yet). */
  committable(partition: number, scoredUntil: number): number | null {
    const part = this.parts.get(partition);
    if (!part || part.next < 0) return null;
    let min = part.next;
    for (const [end, offset] of part.windows) {
      if (end <= scoredUntil) part.windows.delete(end);
      else if (offset < min) min = offset;
    }
    return min;
  }

  /** The next offset to read (last handled + 1), or null. */
  next(partition: number): number | null {
    const part = this.parts.get(partition);
    return part && part.next >= 0 ? part.next : null;
  }

  /** Windows held for `partition`. */
  held(partition: number): number {
    return this.parts.get(partition)?.windows.size ?? 0;
  }

  forget(partition: number): void {
    this.parts.delete(partition);
  }

  private part(partition: number): { next: number; windows: Map<number, number> } {
    let p = this.parts.get(partition);
    if (!p) this.parts.set(partition, (p = { next: -1, windows: new Map() }));
    return p;
  }
}
