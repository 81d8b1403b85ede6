/**
 * Watches one detection evaluation (bench/analyzer/detection.ts) as it runs and keeps what the
 * per-scenario figures and timelines need: the labels, the reports opened on clients, the blocks
 * the analyzer wrote to its control plane (stamped with the simulated time of the tick that wrote
 * them), normal clients' active minutes, and per label a bucketed timeline of fused scores — the
 * highest score among its attackers and among normal clients around the attack. Memory is bounded
 * by the number of labels × buckets, not by the traffic.
 */
import { MemoryControlPlane } from '../../models/controlPlane.js';
import type { CallEvent } from '../../models/events.js';
import type { TickResult } from '../../analyzer/analyzer.js';
import { DEFAULT_DETECTION } from '../../analyzer/options.js';
import type { DetectionObserver } from '../analyzer/detection.js';
import type { BlockMark, LabelSpan, ReportMark } from './detectionFigures.js';

export interface Timeline {
  readonly label: LabelSpan;
  readonly fromMs: number;
  readonly bucketMs: number;
  /** Highest fused score per bucket among the label's clients / among normal clients; NaN = none scored. */
  readonly attacker: Float64Array;
  readonly normal: Float64Array;
}

/** Buckets per timeline (at most). */
const BUCKETS = 240;

export class DetectionRecorder implements DetectionObserver {
  readonly controlPlane = new MemoryControlPlane();
  labels: LabelSpan[] = [];
  startMs = 0;
  endMs = 0;
  readonly reports: ReportMark[] = [];
  readonly blocks: BlockMark[] = [];
  readonly normalMinutes = new Map<number, number>();
  timelines: Timeline[] = [];
  private attackers = new Set<string>();
  private readonly lastMinute = new Map<string, number>();
  private pendingBlocks: string[] = [];

  /** `warmupMs`: the analyzer's warm-up; its minutes are not in the false-alarm denominator (no alarm can be raised in them). */
  constructor(
    private readonly graceMs = 120_000,
    private readonly warmupMs = DEFAULT_DETECTION.warmupMs,
  ) {}

  /** Subscribes to the control plane; call before the evaluation starts. */
  async attach(): Promise<void> {
    await this.controlPlane.subscribe(
      (raw) => {
        try {
          const m = JSON.parse(raw) as { kind?: string; field?: string; value?: unknown };
          if (m.kind === 'block' && m.value !== null && typeof m.field === 'string') this.pendingBlocks.push(m.field);
        } catch {
          // the in-memory plane only carries its own well-formed messages
        }
      },
      () => undefined,
    );
  }

  start(labels: ReadonlyArray<LabelSpan>, startMs: number, endMs: number): void {
    this.labels = labels.map((l) => ({ id: l.id, scenario: l.scenario, clients: [...l.clients], onsetMs: l.onsetMs, endMs: l.endMs }));
    this.startMs = startMs;
    this.endMs = endMs;
    this.attackers = new Set(this.labels.flatMap((l) => l.clients));
    this.timelines = this.labels.map((label) => {
      const pad = Math.max(120_000, 0.25 * (label.endMs - label.onsetMs));
      const fromMs = Math.max(startMs, label.onsetMs - pad);
      const toMs = Math.min(endMs + 10_000, label.endMs + Math.max(pad, this.graceMs));
      const bucketMs = Math.max(10_000, Math.ceil((toMs - fromMs) / BUCKETS / 10_000) * 10_000);
      const n = Math.max(1, Math.ceil((toMs - fromMs) / bucketMs));
      return { label, fromMs, bucketMs, attacker: new Float64Array(n).fill(NaN), normal: new Float64Array(n).fill(NaN) };
    });
  }

  event(e: CallEvent): void {
    if (this.attackers.has(e.client)) return;
    const minute = Math.floor(e.ts / 60_000);
    if (minute * 60_000 < this.startMs + this.warmupMs) return;
    if (this.lastMinute.get(e.client) === minute) return;
    this.lastMinute.set(e.client, minute);
    this.normalMinutes.set(minute, (this.normalMinutes.get(minute) ?? 0) + 1);
  }

  tick(now: number, result: TickResult): void {
    for (const field of this.pendingBlocks) this.blocks.push({ client: field, ts: now });
    this.pendingBlocks = [];
    for (const r of result.opened) {
      if (r.client.startsWith('service:')) continue;
      const top = Object.entries(r.detectors).sort((a, b) => b[1] - a[1])[0]?.[0];
      this.reports.push({ client: r.client, ts: r.ts, score: r.score, action: r.action.kind, ...(top ? { detector: top } : {}) });
    }
    for (const w of result.scored) {
      const attacker = this.attackers.has(w.client);
      for (const t of this.timelines) {
        const i = Math.floor((w.end - t.fromMs) / t.bucketMs);
        if (i < 0 || i >= t.attacker.length) continue;
        const series = attacker ? (t.label.clients.includes(w.client) ? t.attacker : null) : t.normal;
        if (series && !(series[i]! >= w.fusion.score)) series[i] = w.fusion.score;
      }
    }
  }
}
