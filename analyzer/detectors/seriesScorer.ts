/**
 * Univariate streaming scoring of a series (a client's request rate per 10 s window, a service's
 * request rate). The analyzer delegates to the shared streaming detector in ./series/ — the one
 * `ratewarden replay` runs on NAB — so live detection and the NAB figure come from the same code.
 * Until that module is present, a robust EWMA z-score stands in (same contract).
 */

export interface SeriesScorer {
  /** Feeds the next value; returns its anomaly score in [0, 1]. */
  update(value: number, tsMs: number): number;
  /** Bytes of state held. */
  readonly stateBytes: number;
  /** A copy of the whole state (state snapshots); restore() on a scorer of the same factory and profile resumes it. */
  serialize(): Float64Array;
  /** Replaces the state with one serialize() produced; throws on another shape. */
  restore(state: Float64Array): void;
}

export type SeriesProfile = 'light' | 'full';

export interface SeriesFactory {
  /** `series` (the shared detector) or `robust-z` (the stand-in). */
  readonly name: string;
  create(profile: SeriesProfile): SeriesScorer;
}

/**
 * log1p-scale EWMA centre and mean absolute deviation; score 0 until `warmup` values, then
 * 1 − exp(−(|z| − 3) / 3) beyond three spreads. 48 bytes.
 */
export class RobustZSeries implements SeriesScorer {
  private n = 0;
  private mean = 0;
  private absDev = 0;

  constructor(
    private readonly alpha = 0.05,
    private readonly warmup = 10,
  ) {}

  update(value: number, _tsMs: number): number {
    if (!Number.isFinite(value)) return 0;
    const x = Math.log1p(Math.max(0, value));
    if (this.n === 0) {
      this.mean = x;
      this.n = 1;
      return 0;
    }
    const spread = Math.max(1.25 * this.absDev, 0.1);
    const z = Math.abs(x - this.mean) / spread;
    const a = this.n * this.alpha < 1 ? 1 / (this.n + 1) : this.alpha;
    // an outlier moves the baseline by at most 3 spreads
    const clipped = Math.max(this.mean - 3 * spread, Math.min(this.mean + 3 * spread, x));
    this.absDev += a * (Math.abs(clipped - this.mean) - this.absDev);
    this.mean += a * (clipped - this.mean);
    this.n++;
    if (this.n <= this.warmup) return 0;
    return z <= 3 ? 0 : 1 - Math.exp(-(z - 3) / 3);
  }

  get stateBytes(): number {
    return 48;
  }

  serialize(): Float64Array {
    return Float64Array.of(this.n, this.mean, this.absDev);
  }

  restore(state: Float64Array): void {
    if (state.length !== 3 || !(state[0]! >= 0)) throw new Error('robust-z series state has another shape');
    this.n = state[0]!;
    this.mean = state[1]!;
    this.absDev = state[2]!;
  }
}

export const ROBUST_Z_SERIES: SeriesFactory = { name: 'robust-z', create: () => new RobustZSeries() };

interface SeriesModule {
  createSeriesDetector?: (options?: { profile?: SeriesProfile; minScale?: number }) => { update(value: number, tsMs: number): number; readonly stateBytes?: number; serialize(): Float64Array; restore(state: Float64Array): void };
}

let cached: Promise<SeriesFactory> | null = null;

/**
 * The shared streaming detector when ./series/index.js exports `createSeriesDetector`, else the
 * stand-in. Loaded once per process.
 */
export function loadSeriesFactory(): Promise<SeriesFactory> {
  cached ??= (async () => {
    const specifier = './series/index.js';
    try {
      const mod = (await import(specifier)) as SeriesModule;
      const create = mod.createSeriesDetector;
      if (typeof create === 'function') {
        return {
          name: 'series',
          create: (profile: SeriesProfile) => {
            // the analyzer's series are request counts: one request is the smallest change that matters
            const d = create({ profile, minScale: 1 });
            return {
              update: (value: number, ts: number) => {
                const s = d.update(value, ts);
                return Number.isFinite(s) ? Math.min(1, Math.max(0, s)) : 0;
              },
              get stateBytes() {
                return d.stateBytes ?? 0;
              },
              serialize: () => d.serialize(),
              restore: (state: Float64Array) => d.restore(state),
            };
          },
        };
      }
    } catch {
      // not built yet: fall through to the stand-in
    }
    return ROBUST_Z_SERIES;
  })();
  return cached;
}
