import { LRUCache } from 'lru-cache';
import { REJECT, type Demand } from '../algorithms/index.js';
import { shouldConsume, type Check } from '../check.js';

/**
 * Counters in this process's memory: an LRU bounded by `maxKeys` distinct keys (client keys such as
 * `apiKey:…` or `ip:…|header:…`), each entry holding the state of every rule keyed on it — so a
 * request under five rules keyed by API key costs one lookup, not five. Entries expire lazily on
 * access, on the engine's clock: an entry's TTL is the longest idle horizon of the rules it holds
 * (after which no state means the same as the state) and is renewed on every decision. The expiry
 * is kept here rather than by lru-cache's `ttl`, whose per-access clock read and bookkeeping cost
 * ~15 % of a memory-store decision (sidecar/engine/README.md). A full cache evicts the least
 * recently used key — counted, because clients create keys.
 *
 * Decisions are synchronous, hence atomic: every check is evaluated, then the ones that should count
 * consume (`shouldConsume`).
 *
 * `divisor` > 1 makes this the fail-open fallback: each rule's limit is divided among the expected
 * replicas (counts rounded up, so no limit drops to 0; buckets keep at least one unit of capacity).
 */
interface Entry {
  /** State per rule slot. */
  states: unknown[];
  /** Idle horizon (ms) and the time of the last decision: idle longer than `ttl`, the states are dropped. */
  ttl: number;
  used: number;
}

export class MemoryStore {
  private readonly lru: LRUCache<string, Entry>;
  /** Rule (id + algorithm) → slot in every entry; grow-only, so a hot reload keeps unchanged rules' state. */
  private readonly slots = new Map<string, number>();
  private evicted = 0;

  constructor(
    maxKeys: number,
    onEvict?: (count: number) => void,
    private readonly divisor: number = 1,
  ) {
    this.lru = new LRUCache<string, Entry>({
      max: maxKeys,
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

  private slot(c: Check): number {
    let s = this.slots.get(c.rule.memoryPrefix);
    if (s === undefined) {
      s = this.slots.size;
      this.slots.set(c.rule.memoryPrefix, s);
    }
    return s;
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
    let lastKey: string | null = null;
    let entry: Entry | undefined;
    for (let i = from; i < to; i++) {
      const c = checks[i]!;
      if (c.key !== lastKey) {
        lastKey = c.key;
        entry = this.lru.get(c.key);
        if (entry !== undefined) {
          // idle past its horizon: no state means the same as the state it held
          if (now - entry.used > entry.ttl) entry.states = [];
          entry.used = now;
        }
      }
      const s = entry === undefined ? undefined : entry.states[this.slot(c)];
      c.state = s;
      const d = this.demand(c);
      c.rule.impl.evaluate(s, d, now, c);
      if (s !== undefined) {
        // the horizon of today's demand: a tightened bucket (its burst floored at one request) or a
        // reloaded rule with a longer window needs its state longer than when it was stored
        const ttl = c.rule.impl.idleMs(d);
        if (ttl > entry!.ttl) entry!.ttl = ttl;
      }
      c.at = now;
      if (c.status === REJECT && !c.rule.shadow) pass = false;
    }
    for (let i = from; i < to; i++) {
      const c = checks[i]!;
      const before = c.state;
      c.state = undefined;
      c.committed = false;
      if (!shouldConsume(c, pass)) continue;
      const d = this.demand(c);
      const after = c.rule.impl.consume(before, d, now, c.status !== REJECT, c.token);
      if (before === undefined) this.keep(c, after, now);
      if (c.status === REJECT) retryAfterCounted(c, after, d, now);
      c.committed = pass && c.status !== REJECT && !c.rule.countRejected;
    }
    return pass;
  }

  /** Stores a new state (the first for this rule and key), extending the entry's TTL if this rule needs longer. */
  private keep(c: Check, state: unknown, now: number): void {
    // the horizon of the demand decided here: a fallback's bucket (burst scaled, at least 1) can take
    // longer to refill than the shared one
    const ttl = Math.max(1, c.rule.impl.idleMs(this.demand(c)));
    let entry = this.lru.get(c.key);
    if (entry === undefined) {
      entry = { states: [], ttl, used: now };
      this.lru.set(c.key, entry);
    } else if (ttl > entry.ttl) entry.ttl = ttl;
    entry.states[this.slot(c)] = state;
  }

  /** Gives back a committed admission (a later rule or store rejected the request); releases a lease. */
  refund(c: Check): void {
    if (!c.committed) return;
    c.committed = false;
    const s = this.lru.get(c.key)?.states[this.slot(c)];
    if (s !== undefined) c.rule.impl.refund(s, this.demand(c), c.at, c.token);
  }

  clear(): void {
    this.lru.clear();
  }

  /**
   * After a policy reload: no entry's state is dropped as idle before `ms` (the longest horizon of
   * the new policy's rules), since a rule kept across the reload may now have a longer window.
   * Keeping a state past its horizon is harmless (it decides as no state would); dropping it early
   * would forget admissions. O(entries), on reload only.
   */
  extendHorizon(ms: number): void {
    for (const entry of this.lru.values()) if (entry.ttl < ms) entry.ttl = ms;
  }
}

/**
 * A rejection that was counted (countRejected) took budget, so the wait measured before it is too
 * short: the request is evaluated again on the state it left, and reports the later wait (and what
 * is left now). Retried at the first wait, it was refused — and counted — again, for ever on a
 * bucket or a sliding window counter (rate 1/2s: Retry-After 1 s, every time). The Lua driver does
 * the same.
 */
function retryAfterCounted(c: Check, state: unknown, d: Demand, now: number): void {
  const remaining = c.remaining;
  const waitMs = c.waitMs;
  c.rule.impl.evaluate(state, d, now, c);
  if (c.status !== REJECT) {
    c.status = REJECT;
    c.remaining = remaining;
    c.waitMs = c.resetMs = waitMs;
  } else if (c.waitMs < waitMs) c.waitMs = c.resetMs = waitMs;
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
