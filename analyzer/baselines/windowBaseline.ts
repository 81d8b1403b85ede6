/**
 * What normal looks like for one client at one window size: an EWMA mean/variance and a robust
 * median/MAD over the last `ring` clean windows, both on detector scale (log1p for counts). Only
 * windows that were not anomalous are learned, so an attack does not become the new normal.
 */
import { FEATURE_COUNT } from '../../models/features.js';
import { EwmaVector } from './ewma.js';
import { RobustRing } from './robustRing.js';

export class WindowBaseline {
  readonly ewma = new EwmaVector(FEATURE_COUNT);
  readonly ring: RobustRing;
  /** Clean windows learned. */
  windows = 0;

  constructor(
    ringLength: number,
    private readonly alpha: number,
  ) {
    // robust statistics move slowly: recompute after a fifth of the ring has changed
    this.ring = new RobustRing(FEATURE_COUNT, ringLength, Math.max(2, Math.ceil(ringLength / 5)));
  }

  /** `scaled`: the window's vector on detector scale. */
  learn(scaled: ArrayLike<number>): void {
    this.ewma.update(scaled, this.alpha);
    this.ring.push(scaled);
    this.windows++;
  }

  /** Robust centre when the ring has enough values, else the EWMA mean; NaN when never seen. */
  centre(i: number): number {
    if (this.ring.support[i]! >= 4) return this.ring.centre[i]!;
    return this.ewma.count[i]! > 0 ? this.ewma.mean[i]! : NaN;
  }

  /** Spread: the larger of the robust σ and half the EWMA σ (the MAD of a quiet series can be 0). */
  sigma(i: number): number {
    const robust = this.ring.support[i]! >= 4 ? this.ring.sigma[i]! : 0;
    const ewma = this.ewma.count[i]! > 1 ? this.ewma.std(i) : 0;
    return Math.max(robust, 0.5 * ewma);
  }

  get bytes(): number {
    return EwmaVector.bytes(FEATURE_COUNT) + this.ring.bytes + 16;
  }
}
