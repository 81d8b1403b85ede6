import { LRUCache } from 'lru-cache';
import { ALLOW, REJECT, admit, reject } from '../algorithms/index.js';
import { Check, snapshot, type Consumption } from '../check.js';
import type { RedisStore } from '../redis/redisStore.js';

/**
 * scope: global-leased (token bucket, sliding window counter). The budget lives in Redis as for a
 * shared rule, but a sidecar does not ask Redis per request: it leases a slice of units (one script
 * call takes them out of the shared bucket / window, atomically) and spends them locally. Requests
 * are decided without a round trip while the slice lasts; a new slice is fetched in the background
 * when half of it is gone; a request arriving with nothing leased waits for a fetch (and for up to
 * MAX_FETCH_ROUNDS of them when the requests waiting with it spent the slice first).
 *
 * The bound. A unit is admitted only after Redis granted it, and a granted unit is spent within
 * H = maxOverAdmission × windowMs of its grant (two grants are held at most, spent oldest first;
 * expired leftovers are given back). So:
 *  - token bucket: in any interval of length T at most burst + limit·(T + H)/windowMs units pass,
 *    i.e. at most maxOverAdmission × limit more than the exact shared bucket;
 *  - sliding window counter: units are reserved in the window they are spent in (a grant also
 *    expires with its window), so nothing beyond the algorithm's own bound.
 * A slice is at most max(cost, ⌈maxOverAdmission × limit⌉) units, sized to what this sidecar spent
 * in the last H; when Redis has nothing left the refusal (and its retry time) is cached locally, so
 * an overloaded key is rejected without round trips. Leased units not spent are given back; a dead
 * sidecar strands at most its slices (under-admission, never over-admission).
 */
class Pool {
  /** Current grant (spent first) and the next one. */
  aUnits = 0;
  /** Units the current grant had when it was granted (its half is the prefetch mark). */
  aGranted = 0;
  aExpires = 0;
  /** When Redis granted it, in Redis time (its refunds find the window there). */
  aAt = 0;
  /**
   * When it arrived, in this sidecar's time: the grant was there for any unit spent from then on.
   * (Not aAt: with redisTime server the two clocks differ, and a sidecar ahead of Redis credited a
   * refunded unit of an old window to a grant of the next — one unit more than Redis reserved.)
   */
  aArrived = 0;
  bUnits = 0;
  bExpires = 0;
  bAt = 0;
  bArrived = 0;
  bGranted = 0;
  /** Redis refused: no units before this local time. */
  emptyUntil = 0;
  fetching: Promise<void> | null = null;
  /** Units spent since `since`, for sizing the next slice. */
  spent = 0;
  since = 0;
  /** The last grant's view of the shared budget, for headers. */
  remaining = 0;
  /**
   * When the last grant's reset falls, in this sidecar's time: its resetMs counted from when it was
   * asked for (the grant happened within the round trip after that). Verdicts report the time left
   * until then, so the reset counts down while the slice is spent (see resetIn).
   */
  resetAt = 0;
  constructor(
    readonly proto: Check,
    now: number,
  ) {
    this.since = now;
  }

  available(now: number): number {
    return (this.aExpires > now ? this.aUnits : 0) + (this.bExpires > now ? this.bUnits : 0);
  }

  /**
   * Ms until the shared budget resets, as the shared scope reports it, `left` units still leased here
   * after this request: for the sliding window counter, until the window of the grant ends; for the
   * token bucket, until the bucket is full again with the units leased here and not spent counted
   * back in it (the grant's until-full counts them as taken, and they go back unless spent) — the
   * shared scope's figure for one sidecar alone on the key.
   */
  resetIn(c: Check, left: number, now: number): number {
    let ms = this.resetAt - now;
    if (c.rule.algorithm === 'token-bucket' && c.limit > 0) ms -= (left * c.windowMs) / c.limit;
    return ms > 0 ? ms : 0;
  }

  /** The current grant is used up (or gone): the next one becomes current. */
  promote(): void {
    this.aUnits = this.bUnits;
    this.aExpires = this.bExpires;
    this.aAt = this.bAt;
    this.aArrived = this.bArrived;
    this.aGranted = this.bGranted;
    this.bUnits = 0;
    this.bExpires = 0;
  }
}

/** Fetch rounds a request waits for at most before it is refused for lack of leased units. */
const MAX_FETCH_ROUNDS = 3;

export class LeasedStore {
  private readonly pools: LRUCache<string, Pool>;
  private closed = false;

  constructor(
    private readonly redis: RedisStore,
    maxKeys: number,
    private readonly now: () => number,
    private readonly replicas: number,
    onEvict?: (count: number) => void,
  ) {
    this.pools = new LRUCache<string, Pool>({
      max: maxKeys,
      dispose: (pool, _k, reason) => {
        if (reason === 'evict') onEvict?.(1);
        this.giveBack(pool);
      },
    });
  }

  get size(): number {
    return this.pools.size;
  }

  private static lifetime(c: Check): number {
    return Math.max(1, Math.floor(c.rule.maxOverAdmission * c.windowMs));
  }

  private static maxSlice(c: Check): number {
    return Math.max(c.cost, Math.ceil(c.rule.maxOverAdmission * c.limit));
  }

  /**
   * Decides the leased checks of one request atomically against local slices. Returns a boolean
   * when every slice was there, else a promise that first fetches the missing slices (one fetch per
   * key at a time, shared by the requests waiting for it). Rejects with StoreUnavailableError.
   */
  decide(checks: readonly Check[], now: number): boolean | Promise<boolean> {
    const wait = this.missing(checks, now);
    if (wait === null) return this.settle(checks, now);
    return this.afterFetches(checks, wait, 1);
  }

  /** The fetches the checks lack units for (joining one in flight), or null when every check can be settled now. */
  private missing(checks: readonly Check[], now: number): Promise<void>[] | null {
    let wait: Promise<void>[] | null = null;
    for (const c of checks) {
      const pool = this.pool(c, now);
      if (pool.available(now) >= c.cost || pool.emptyUntil > now) continue;
      (wait ??= []).push(pool.fetching ?? this.fetch(pool, c, now));
    }
    return wait;
  }

  /**
   * Settles once the fetches are in. A request that waited may still find no units: the requests
   * waiting with it spent the slice (sized for the recent rate, not for a burst), or the grant came
   * too late to be spent. Redis did not refuse, so it fetches again (up to MAX_FETCH_ROUNDS rounds)
   * rather than reject with budget left in Redis.
   */
  private async afterFetches(checks: readonly Check[], wait: Promise<void>[], round: number): Promise<boolean> {
    for (;;) {
      await Promise.all(wait);
      const now = this.now();
      const more = round < MAX_FETCH_ROUNDS ? this.missing(checks, now) : null;
      if (more === null) return this.settle(checks, now);
      wait = more;
      round++;
    }
  }

  /** Gives every unspent leased unit back (clean shutdown). */
  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) this.giveBack(pool);
  }

  /**
   * Gives back an admission: of a request another rule rejected (at once), or of one the upstream
   * never answered (verdict.refund, maybe seconds later). The units go back to the current grant only
   * if it had arrived by the time they were spent (both in this sidecar's time): one granted since may
   * belong to a later window (sliding window counter), where an old unit would be one more than Redis
   * granted for it. Units
   * of a grant since replaced are not given back at all (under-admission, never over-admission).
   */
  refund(c: Check): void {
    if (!c.committed) return;
    c.committed = false;
    const pool = this.pools.get(c.rule.memoryPrefix + c.key);
    if (pool === undefined) return;
    pool.spent -= c.cost;
    if (pool.aArrived > c.at) return;
    pool.aUnits += c.cost;
  }

  private pool(c: Check, now: number): Pool {
    const key = c.rule.memoryPrefix + c.key;
    let pool = this.pools.get(key);
    if (pool === undefined || pool.proto.rule !== c.rule) {
      pool = new Pool(c, now);
      this.pools.set(key, pool);
    }
    return pool;
  }

  private settle(checks: readonly Check[], now: number): boolean {
    let pass = true;
    for (const c of checks) {
      const pool = this.pool(c, now);
      this.expire(pool, now);
      const have = pool.available(now);
      c.at = now;
      if (have >= c.cost) admit(c, Math.min(have - c.cost + pool.remaining, c.burst), pool.resetIn(c, have - c.cost, now));
      // Redis refused a lease: emptyUntil is when ONE unit is back; a request costing more waits for
      // the rest at the refill rate (exact for the token bucket, a lower bound for the counter),
      // else a client retrying at Retry-After is refused again and again
      else if (pool.emptyUntil > now) reject(c, 0, pool.emptyUntil - now + (Math.max(0, c.cost - 1 - have) * c.windowMs) / Math.max(c.limit, 1e-9));
      else reject(c, have, ((c.cost - have) * c.windowMs) / Math.max(c.limit, 1e-9));
      if (c.status === REJECT && !c.rule.shadow) pass = false;
    }
    for (const c of checks) {
      c.committed = false;
      if (!pass || c.status !== ALLOW) continue;
      const pool = this.pool(c, now);
      let cost = c.cost;
      const fromA = Math.min(pool.aUnits, cost);
      pool.aUnits -= fromA;
      cost -= fromA;
      if (cost > 0) {
        pool.bUnits -= cost;
        pool.promote();
      }
      pool.spent += c.cost;
      c.committed = true;
      // prefetch when half of the current slice is gone (and nothing is queued behind it)
      if (pool.fetching === null && pool.bUnits <= 0 && pool.aUnits * 2 < pool.aGranted && pool.emptyUntil <= now) {
        this.fetch(pool, c, now).catch(() => undefined);
      }
    }
    return pass;
  }

  /** Drops expired grants, giving their units back to Redis. */
  private expire(pool: Pool, now: number): void {
    if (pool.aUnits > 0 && pool.aExpires <= now) this.returnA(pool);
    if (pool.bUnits > 0 && pool.bExpires <= now) this.returnB(pool);
    if (pool.aUnits <= 0 && pool.bUnits > 0) pool.promote();
  }

  private returnA(pool: Pool): void {
    if (pool.aUnits > 0) this.redis.refund([snapshot(pool.proto, pool.aUnits, pool.aAt)]);
    pool.aUnits = 0;
  }

  private returnB(pool: Pool): void {
    if (pool.bUnits > 0) this.redis.refund([snapshot(pool.proto, pool.bUnits, pool.bAt)]);
    pool.bUnits = 0;
  }

  private giveBack(pool: Pool): void {
    this.returnA(pool);
    this.returnB(pool);
  }

  private fetch(pool: Pool, c: Check, now: number): Promise<void> {
    const H = LeasedStore.lifetime(c);
    const elapsed = Math.max(1, now - pool.since);
    const observed = pool.spent > 0 ? Math.ceil(((pool.spent * H) / elapsed) * 2) : Math.ceil((c.limit * H) / c.windowMs / this.replicas);
    const want = Math.min(LeasedStore.maxSlice(c), Math.max(c.cost, observed));
    pool.spent = 0;
    pool.since = now;
    const req = new Check(c.rule, c.key, c.limit, c.burst, want);
    // Lifetimes count from when the lease was asked for, not from when the answer arrived: the grant
    // happened in between, so this never lets a unit be spent later than H after its grant (nor, for
    // a sliding window, after the window it was counted in).
    const asked = now;
    const p = this.redis.lease(req).then(
      (granted) => {
        const t = this.now();
        pool.fetching = null;
        if (!granted) {
          pool.emptyUntil = asked + req.waitMs;
          pool.remaining = 0;
          // a refusal's resetMs is only its retry time: units still leased here keep the last grant's reset
          return;
        }
        pool.emptyUntil = 0;
        pool.remaining = req.waitMs; // for a lease, the shared budget left after the grant
        pool.resetAt = asked + req.resetMs; // resetMs is from the grant's moment: counted down from there
        const life = c.rule.algorithm === 'sliding-window-counter' ? Math.min(H, req.resetMs) : H;
        const expires = asked + life;
        const units = req.remaining;
        if (expires <= t || this.closed) {
          // arrived too late to be spent within its lifetime (or after close): straight back
          this.redis.refund([snapshot(pool.proto, units, req.at)]);
          return;
        }
        if (pool.aUnits <= 0 || pool.aExpires <= t) {
          this.returnA(pool);
          pool.aUnits = units;
          pool.aExpires = expires;
          pool.aAt = req.at;
          pool.aArrived = t;
          pool.aGranted = units;
        } else {
          this.returnB(pool);
          pool.bUnits = units;
          pool.bExpires = expires;
          pool.bAt = req.at;
          pool.bArrived = t;
          pool.bGranted = units;
        }
      },
      (err: Error) => {
        pool.fetching = null;
        throw err;
      },
    );
    pool.fetching = p;
    return p;
  }
}
