/**
 * Everything the analyzer holds for one client, and its size. The LRU over clients (policy
 * `analyzer.maxClients`) bounds the total; analyzer/README.md states the per-client figure that
 * `heapBytes` computes.
 */
import { FEATURE_COUNT, FeatureContext, WindowAccumulator } from '../models/features.js';
import { WindowBaseline } from './baselines/windowBaseline.js';
import { HourOfWeekProfile } from './baselines/seasonal.js';
import { INITIAL_DECISION_STATE, type DecisionState } from './decisions/decide.js';
import { isCredentialKey, LowAndSlowState } from './detectors/rules.js';
import { KeyIdentities } from './recentIps.js';
import type { SeriesScorer } from './detectors/seriesScorer.js';
import type { DetectionOptions } from './options.js';
import type { DistinctCounter } from '../models/featureSketches.js';

/**
 * Heap bytes one typed array costs besides its elements on 64-bit Node.js (V8): the view, its
 * ArrayBuffer and the backing store's bookkeeping (measured ≈ 190–210 B whatever its length). The
 * parts' own `bytes` (a window's `stateBytes`) count their elements; `heapBytes` adds this for each array,
 * and the JS objects around them, so it is what a client really holds
 * (test/unit/analyzer/clientStateSize.test.ts).
 */
export const TYPED_ARRAY_BYTES = 200;
/** What the parts' element counts leave out: their typed arrays' overhead and their objects. */
const OVERHEAD = {
  /** The route memory's array and object, the context's boxed numbers. */
  context: TYPED_ARRAY_BYTES + 160,
  /** A window accumulator's boxed sums (its two distinct counters: `counterOverhead`). */
  window: 72,
  /** EWMA (3 arrays) and robust ring (5 arrays) of one window size, and their objects. */
  baseline: 8 * TYPED_ARRAY_BYTES + 148,
  /** Recent windows of one size (3 arrays). */
  recent: 3 * TYPED_ARRAY_BYTES + 8,
  /** The low-and-slow ring (1 array). */
  lowSlow: TYPED_ARRAY_BYTES + 12,
  /** Key identities: two seen tables (3 arrays each), three minute rings, three objects. */
  ids: 9 * TYPED_ARRAY_BYTES + 140,
  /** Hour-of-week profile (3 arrays). */
  seasonal: 3 * TYPED_ARRAY_BYTES,
} as const;

/** A distinct counter's object, and its array's overhead once it holds one. */
function counterOverhead(c: DistinctCounter): number {
  return 56 + (c.bytes > 0 ? TYPED_ARRAY_BYTES : 0);
}

function windowBytes(w: WindowAccumulator): number {
  return w.stateBytes + OVERHEAD.window + counterOverhead(w.routes) + counterOverhead(w.ips);
}

/**
 * The last `length` windows of one size, for the operator API: end, fused score, every feature, and
 * the request count's baseline centre and spread at the time.
 */
export class RecentWindows {
  private readonly ends: Float64Array;
  private readonly numbers: Float32Array;
  private readonly vectors: Float32Array;
  private pos = 0;
  private filled = 0;

  constructor(readonly length: number) {
    this.ends = new Float64Array(length);
    this.numbers = new Float32Array(length * 4);
    this.vectors = new Float32Array(length * FEATURE_COUNT);
  }

  push(end: number, score: number, vector: ArrayLike<number>, centre: number, spread: number): void {
    const p = this.pos;
    this.ends[p] = end;
    this.numbers[p * 4] = score;
    this.numbers[p * 4 + 1] = vector[0]!;
    this.numbers[p * 4 + 2] = centre;
    this.numbers[p * 4 + 3] = spread;
    for (let i = 0; i < FEATURE_COUNT; i++) this.vectors[p * FEATURE_COUNT + i] = vector[i]!;
    this.pos = (p + 1) % this.length;
    if (this.filled < this.length) this.filled++;
  }

  /** Oldest first. */
  list(): Array<{ end: number; score: number; requests: number; centre: number | null; spread: number | null; features: number[] }> {
    const out: Array<{ end: number; score: number; requests: number; centre: number | null; spread: number | null; features: number[] }> = [];
    for (let k = this.filled; k > 0; k--) {
      const slot = (this.pos - k + this.length) % this.length;
      const centre = this.numbers[slot * 4 + 2]!;
      const spread = this.numbers[slot * 4 + 3]!;
      out.push({
        end: this.ends[slot]!,
        score: Math.round(this.numbers[slot * 4]! * 1e4) / 1e4,
        requests: this.numbers[slot * 4 + 1]!,
        centre: Number.isFinite(centre) ? Math.round(centre * 100) / 100 : null,
        spread: Number.isFinite(spread) ? Math.round(spread * 100) / 100 : null,
        features: Array.from(this.vectors.subarray(slot * FEATURE_COUNT, (slot + 1) * FEATURE_COUNT), (x) => Math.round(x * 1e4) / 1e4),
      });
    }
    return out;
  }

  get bytes(): number {
    return this.ends.byteLength + this.numbers.byteLength + this.vectors.byteLength + 32;
  }
}

/** What a client learns once its first window closes (allocated then, not on its first event). */
class ClientModel {
  readonly b10: WindowBaseline;
  readonly b60: WindowBaseline;
  readonly recent10: RecentWindows;
  readonly recent60: RecentWindows;
  readonly lowSlow: LowAndSlowState;

  constructor(opts: DetectionOptions) {
    this.b10 = new WindowBaseline(opts.ring10s, opts.ewmaAlpha10s);
    this.b60 = new WindowBaseline(opts.ring60s, opts.ewmaAlpha60s);
    this.recent10 = new RecentWindows(opts.recentWindows);
    this.recent60 = new RecentWindows(opts.recentWindows);
    this.lowSlow = new LowAndSlowState(opts.lowAndSlow.span);
  }

  get bytes(): number {
    return this.b10.bytes + this.b60.bytes + this.recent10.bytes + this.recent60.bytes + this.lowSlow.bytes + 48;
  }

  /** `bytes` with the typed arrays' overhead and objects. */
  get heapBytes(): number {
    return this.bytes + 2 * OVERHEAD.baseline + 2 * OVERHEAD.recent + OVERHEAD.lowSlow;
  }
}

export class ClientState {
  readonly ctx = new FeatureContext();
  /** Open 10 s windows, oldest first (normally one; two while the older waits out the lateness). */
  readonly windows: WindowAccumulator[] = [];
  /** The newest open window: the ingest fast path. */
  current: WindowAccumulator | null = null;
  /** The 60 s roll-up of this minute's closed 10 s windows. */
  roll: WindowAccumulator | null = null;
  private model: ClientModel | null = null;
  /** Allocated once the client has `seasonalAfterMinutes` minutes of history. */
  seasonal: HourOfWeekProfile | null = null;
  minutes = 0;
  series: SeriesScorer | null = null;
  /** IPs and user agents of a credential (API-key and user clients only), and its usual ten-minute IP count. */
  ids: KeyIdentities | null = null;
  readonly credential: boolean;
  usualIps = 0;
  usualIpsN = 0;
  decision: DecisionState = INITIAL_DECISION_STATE;
  service = '';
  private gone = false;
  /**
   * The last event time of the snapshot this state was restored from (-1: not restored). Events up
   * to it are re-reads of what the snapshot already learned (offsets are committed only up to what
   * was scored): they count in their window, not again in the feature context or identities.
   */
  replayUntil = -1;
  /** End of the open 10 s window an open-window look last acted on (not persisted). */
  lookedAt = -1;
  /** End of the open minute an early-look watch follows, and the minute's requests at its last look (not persisted). */
  watchMinute = -1;
  watchCount = 0;
  /** Fused score of the last scored window (any size). */
  lastScore = 0;
  /** Learned something since its last state snapshot (analyzer/state/). */
  dirty = false;

  constructor(
    readonly key: string,
    public tier: string,
    public partition: number,
    readonly opts: DetectionOptions,
  ) {
    this.credential = isCredentialKey(key);
  }

  private get m(): ClientModel {
    return (this.model ??= new ClientModel(this.opts));
  }

  /** Whether the client left the LRU (evicted). */
  get evicted(): boolean {
    return this.gone;
  }

  /**
   * Set when the client leaves the LRU. Its open windows (never scored once evicted, never part of
   * a snapshot) are let go at once, and so is everything else unless it is dirty (then the snapshot
   * writer still encodes it): the partition's window buckets keep a reference to an evicted client
   * until its window's end passes, so what it held must not outlive the eviction — else a flood of
   * new client keys holds ≈ 5 KB each past `maxClients` for the lateness of a window.
   */
  set evicted(value: boolean) {
    this.gone = value;
    if (!value) return;
    this.windows.length = 0;
    this.current = null;
    this.roll = null;
    if (this.dirty) return;
    this.model = null;
    this.ids = null;
    this.seasonal = null;
    this.series = null;
  }

  /** Whether the learned part exists (allocated when the first window closed, or restored). */
  get hasModel(): boolean {
    return this.model !== null;
  }

  get b10(): WindowBaseline {
    return this.m.b10;
  }

  get b60(): WindowBaseline {
    return this.m.b60;
  }

  get recent10(): RecentWindows {
    return this.m.recent10;
  }

  get recent60(): RecentWindows {
    return this.m.recent60;
  }

  get lowSlow(): LowAndSlowState {
    return this.m.lowSlow;
  }

  /**
   * Bytes the client holds on the heap now: the typed arrays' elements plus what V8 spends around them
   * (each typed array's view and ArrayBuffer, the objects, boxed numbers). The figure to size
   * `maxClients` with (analyzer/README.md); the series detector counts its own (`stateBytes`).
   */
  get heapBytes(): number {
    let bytes = 260 + this.key.length * 2 + this.ctx.bytes + OVERHEAD.context + (this.model?.heapBytes ?? 0);
    if (this.ids) bytes += this.ids.bytes + OVERHEAD.ids;
    for (const w of this.windows) bytes += windowBytes(w);
    if (this.roll) bytes += windowBytes(this.roll);
    if (this.seasonal) bytes += HourOfWeekProfile.bytes + OVERHEAD.seasonal;
    if (this.series) bytes += this.series.stateBytes;
    return bytes;
  }
}
