import { LRUCache } from 'lru-cache';
import { REJECT, type Demand } from '../algorithms/index.js';
import { shouldConsume, type Check } from '../check.js';

/**
 * Counters in this process's memory: an LRU bounded by `maxKeys`, each entry with a TTL equal to
 * its algorithm's idle horizon (after which no state means the same as the state). lru-cache checks
 * TTLs lazily on access (`ttlAutopurge: false`): no timer per key. A full cache evicts the least
 * recently used key — counted, because a client can create keys.
 *
 * Decisions are synchronous, hence atomic: every check is evaluated, then the ones that should count
 * consume (`shouldConsume`).
 *
 * `divisor` > 1 makes this the fail-open fallback: each rule's limit is divided among the expected
 * replicas (counts rounded up, so no limit drops to 0; buckets keep at least one unit of capacity).
 */
export class MemoryStore {
  private readonly lru: LRUCache<string, object>;
  private evicted = 0;

  constructor(
    maxKeys: number,
    onEvict?: (count: number) => void,
    private readonly divisor: number = 1,
  ) {
    this.lru = new LRUCache<string, object>({
      max: maxKeys,
      ttl: 60_000, // replaced per entry on set
      ttlAutopurge: false,
      updateAgeOnGet: true,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') {
          this.evicted++;
          onEvict?.(1);
        }
      },
    });
  }

  get size(): number {
    return this.lru.size;
  }

  get evictions(): number {
    return this.evicted;
  }

  private demand(c: Check): Demand {
    if (this.divisor === 1) return c;
    c.divisor = this.divisor;
    return scaledDemand(c, this.divisor);
  }

  /**
   * Decides `checks[from..to)` as one request at `now`; returns whether every non-shadow check
   * passed. `alreadyRejected`: another store rejected the request; only countRejected rules count it.
   */
  decide(checks: readonly Check[], from: number, to: number, now: number, alreadyRejected = false): boolean {
    let pass = !alreadyRejected;
    for (let i = from; i < to; i++) {
      const c = checks[i]!;
      const s = this.lru.get(c.rule.memoryPrefix + c.key);
      c.state = s;
      c.rule.impl.evaluate(s, this.demand(c), now, c);
      c.at = now;
      if (c.status === REJECT && !c.rule.shadow) pass = false;
    }
    if (alreadyRejected) pass = false;
    for (let i = from; i < to; i++) {
      const c = checks[i]!;
      const before = c.state;
      c.state = undefined;
      c.committed = false;
      if (!shouldConsume(c, pass)) continue;
      const after = c.rule.impl.consume(before, this.demand(c), now, c.status !== REJECT, c.token) as object;
      if (before === undefined) this.lru.set(c.rule.memoryPrefix + c.key, after, { ttl: Math.max(1, c.rule.impl.idleMs(c)) });
      c.committed = pass && c.status !== REJECT && !c.rule.countRejected;
    }
    return pass && !alreadyRejected;
  }

  /** Gives back a committed admission (a later rule or store rejected the request); releases a lease. */
  refund(c: Check): void {
    if (!c.committed) return;
    c.committed = false;
    const s = this.lru.get(c.rule.memoryPrefix + c.key);
    if (s !== undefined) c.rule.impl.refund(s, this.demand(c), c.at, c.token);
  }

  clear(): void {
    this.lru.clear();
  }
}

/** A rule's demand with its limit shared among `divisor` replicas. */
export function scaledDemand(c: Check, divisor: number): Demand {
  const bucket = c.rule.isBucket;
  return {
    limit: bucket ? c.limit / divisor : Math.ceil(c.limit / divisor),
    burst: bucket ? Math.max(1, c.burst / divisor) : Math.ceil(c.burst / divisor),
    windowMs: c.windowMs,
    cost: c.cost,
    maxDelayMs: c.maxDelayMs,
    queue: c.queue,
  };
}
