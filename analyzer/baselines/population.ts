/**
 * The population baseline per tier and window size: median, MAD and 99th percentile over the last 1,024 clean
 * windows of that tier's clients (any age). A client with little history of its own is compared
 * with these peers instead of with nothing; as its history grows it moves to its own baseline.
 * 1,024 × 14 × 4 bytes per tier and window size, statistics recomputed every 512 windows.
 */
import { FEATURE_COUNT } from '../../models/features.js';
import { RobustRing } from './robustRing.js';

export const POPULATION_RING = 1024;
/** Bound on tiers tracked (tiers come from the policy or from events; unknown names share one slot). */
export const MAX_POPULATION_TIERS = 64;

export class PopulationBaselines {
  private readonly rings = new Map<string, RobustRing>();
  /** Windows learned so far (state snapshots write the rings when it moved). */
  version = 0;

  learn(tier: string, sizeMs: number, scaled: ArrayLike<number>): void {
    this.ring(tier, sizeMs, true)!.push(scaled);
    this.version++;
  }

  /** Every ring by `<tier>/<sizeMs>`. */
  entries(): IterableIterator<[string, RobustRing]> {
    return this.rings.entries();
  }

  /** The tier's ring, or null before any of its windows was learned. */
  ring(tier: string, sizeMs: number, create = false): RobustRing | null {
    let key = `${tier}/${sizeMs}`;
    let ring = this.rings.get(key);
    if (!ring && create) {
      if (this.rings.size >= MAX_POPULATION_TIERS * 2) key = `*/${sizeMs}`;
      ring = this.rings.get(key);
      if (!ring) this.rings.set(key, (ring = new RobustRing(FEATURE_COUNT, POPULATION_RING, 512)));
    }
    return ring ?? null;
  }

  tiers(): string[] {
    return [...new Set([...this.rings.keys()].map((k) => k.slice(0, k.lastIndexOf('/'))))];
  }
}
