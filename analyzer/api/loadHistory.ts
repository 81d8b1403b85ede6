/**
 * The load multiplier over time, recorded from the control plane itself: every `load` message on
 * `rw:ctl` (DESIGN.md) becomes a point. Works whoever writes the multiplier (the analyzer's load
 * controller, an operator, a test) and needs nothing from the writer. Bounded: a ring of points.
 */
import { decodeControlMessage } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import type { LoadPoint } from './backend.js';

export class LoadHistory {
  private readonly points: LoadPoint[] = [];
  /** Points dropped because the ring was full. */
  dropped = 0;
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(
    private readonly max = 2_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seeds from the current state and follows the channel. */
  async follow(plane: ControlPlane): Promise<void> {
    this.unsubscribe = await plane.subscribe(
      (raw) => this.onMessage(raw),
      () => undefined,
    );
    const state = await plane.read();
    for (const [service, v] of state.load) this.record({ ts: v.since, service, multiplier: v.multiplier, reason: v.reason });
  }

  onMessage(raw: string): void {
    const decoded = decodeControlMessage(raw);
    if (!decoded.ok || decoded.value.kind !== 'load') return;
    const m = decoded.value;
    const v = m.value as { multiplier: number; reason: string; since?: number } | null;
    // a deleted load field means "no restriction": multiplier 1
    this.record({ ts: v?.since ?? this.now(), service: m.field, multiplier: v ? v.multiplier : 1, reason: v ? v.reason : 'cleared' });
  }

  record(point: LoadPoint): void {
    const last = this.points.findLast((p) => p.service === point.service);
    if (last && last.ts === point.ts && last.multiplier === point.multiplier) return;
    // arrival order is the truth (seq order); a change never dates before the one it replaced
    if (last && point.ts < last.ts) point = { ...point, ts: last.ts };
    this.points.push(point);
    if (this.points.length > this.max) {
      this.points.shift();
      this.dropped++;
    }
  }

  /** Oldest first. */
  list(): LoadPoint[] {
    return [...this.points];
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }
}
