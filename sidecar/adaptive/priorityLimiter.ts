/**
 * Admission by priority under an adaptive concurrency limit (the `Limiter` of Netflix
 * concurrency-limits, with priorities). Pure: time comes from the injected clock, and the shell
 * (AdaptiveGate) calls `sweep` from its timer.
 *
 * Priority p is a tier's `shedPriority`: 0 is shed last, higher is shed first.
 * - Headroom: priority p may only fill `limit × share(p)` of the slots (default share 1 for 0,
 *   then 0.9, 0.8 … down to 0.5), so the last slots are always kept for the most important tiers.
 * - A request that finds no slot waits — briefly, at most `maxWaitMs` — in a queue ordered by
 *   priority, then FIFO. A freed slot goes to the best waiter, so under overload the important tiers
 *   are served within a slot's turnover while the others time out and are shed.
 * - The queue is bounded: when full, an arrival evicts the newest waiter of a worse priority, or is
 *   shed itself.
 * The wait bound defaults to half the recent minimum RTT (between 1 and 50 ms): long enough to catch
 * the next free slot, short enough that queueing here never adds more than a fraction of an
 * unloaded request's latency.
 */
import type { ConcurrencyLimit } from './limit.js';

/**
 * Why a waiter gets no slot. `shutdown` is no shed: the sidecar is closing (shedAll) — the waiter is
 * answered as a request cut by the shutdown, and is not counted as shed (`shed`, the onShed hook).
 */
export type ShedReason = 'timeout' | 'queue-full' | 'evicted' | 'no-wait' | 'shutdown';

/** A queued request's place (returned by `admit` when it has to wait), for `withdraw`. */
export type Ticket = object;

export interface Waiter {
  /** A slot: forward the request, then settle the permit exactly once. */
  onAdmit(permit: Permit): void;
  /** No slot: answer 503 (overloaded; `shutdown`: the sidecar is shutting down). */
  onShed(reason: ShedReason): void;
}

export interface LimiterOptions {
  /** Epoch ms. */
  readonly clock: () => number;
  /** Waiters held at most (default 1 000). */
  readonly maxQueue?: number;
  /** Longest wait for a slot in ms; 0: never wait; default: auto (½ recent minimum RTT, 1–50 ms). */
  readonly maxWaitMs?: number;
  /** Share of the limit priority p may fill (default: 1 for 0, else max(0.5, 1 − 0.1 p)). */
  readonly share?: (priority: number) => number;
  /** Called for each shed request with the tag it was admitted with (metrics). */
  readonly onShed?: (priority: number, reason: ShedReason, tag: string) => void;
}

export function defaultShare(priority: number): number {
  return priority <= 0 ? 1 : Math.max(0.5, 1 - 0.1 * priority);
}

/** One admitted request's slot. Settle it once: success, dropped or ignore (later calls do nothing). */
export class Permit {
  settled = false;

  constructor(
    private readonly limiter: PriorityLimiter,
    readonly priority: number,
    /** Requests in flight when admitted, this one included; the whole limit when it filled its priority's share. */
    readonly inflight: number,
  ) {}

  /** The upstream answered in `rttMs`. */
  success(rttMs: number): void {
    this.limiter.settle(this, rttMs, false, true);
  }

  /** The upstream failed or said it is overloaded (timeout, connect error, 503, 429, 502, 504). */
  dropped(rttMs: number): void {
    this.limiter.settle(this, rttMs, true, true);
  }

  /** Released without telling anything about the upstream (not forwarded, client went away). */
  ignore(): void {
    this.limiter.settle(this, 0, false, false);
  }
}

interface Queued {
  readonly waiter: Waiter;
  readonly priority: number;
  readonly tag: string;
  readonly deadline: number;
  /** Cleared when the entry leaves its FIFO: taken, evicted or withdrawn (lazy deletion). */
  live: boolean;
}

/** FIFO of one priority: array with a moving head (amortised O(1)). */
class Fifo {
  private items: Queued[] = [];
  private head = 0;
  size = 0;

  push(q: Queued): void {
    this.items.push(q);
    this.size++;
  }

  /** The oldest live entry, or undefined. */
  peek(): Queued | undefined {
    while (this.head < this.items.length && !this.items[this.head]!.live) this.head++;
    return this.items[this.head];
  }

  shift(): Queued | undefined {
    const q = this.peek();
    if (q === undefined) return undefined;
    q.live = false;
    this.items[this.head] = undefined as unknown as Queued;
    this.head++;
    this.size--;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return q;
  }

  /** Removes the newest live entry (eviction). */
  pop(): Queued | undefined {
    for (let i = this.items.length - 1; i >= this.head; i--) {
      const q = this.items[i]!;
      if (q.live) {
        q.live = false;
        this.size--;
        if (i === this.items.length - 1) this.items.length = i;
        return q;
      }
    }
    return undefined;
  }

  /** Removes a live entry wherever it is (its client left); the array is dropped once nobody is left. */
  remove(q: Queued): void {
    q.live = false;
    this.size--;
    if (this.size === 0) {
      this.items = [];
      this.head = 0;
    }
  }
}

export interface LimiterStats {
  readonly limit: number;
  readonly inflight: number;
  readonly queued: number;
  readonly admitted: number;
  readonly shed: number;
  readonly maxWaitMs: number;
}

export class PriorityLimiter {
  private limitStrategy: ConcurrencyLimit;
  inflight = 0;
  queued = 0;
  admitted = 0;
  shed = 0;
  /** Queues by priority, kept sorted best (lowest) first. */
  private readonly queues: Array<{ priority: number; fifo: Fifo }> = [];
  private readonly clock: () => number;
  private readonly maxQueue: number;
  private readonly fixedWait: number | null;
  private readonly share: (priority: number) => number;
  private readonly onShedHook: ((priority: number, reason: ShedReason, tag: string) => void) | undefined;
  /** Minimum RTT of the previous and current 10 s (for the automatic wait bound). */
  private prevMinRtt = Infinity;
  private curMinRtt = Infinity;
  private rttWindowStart = -Infinity;
  private dispatching = false;
  private redispatch = false;

  constructor(limit: ConcurrencyLimit, opts: LimiterOptions) {
    this.limitStrategy = limit;
    this.clock = opts.clock;
    this.maxQueue = opts.maxQueue ?? 1_000;
    this.fixedWait = opts.maxWaitMs ?? null;
    this.share = opts.share ?? defaultShare;
    this.onShedHook = opts.onShed;
  }

  get limit(): number {
    return this.limitStrategy.getLimit();
  }

  get strategy(): ConcurrencyLimit {
    return this.limitStrategy;
  }

  /** Swaps the strategy (policy reload); requests in flight stay counted. */
  setStrategy(limit: ConcurrencyLimit): void {
    this.limitStrategy = limit;
    this.dispatch();
  }

  /** Slots priority p may fill. */
  capacityFor(priority: number): number {
    const limit = this.limitStrategy.getLimit();
    return Math.max(1, Math.floor(limit * this.share(priority) + 1e-9));
  }

  get maxWaitMs(): number {
    if (this.fixedWait !== null) return this.fixedWait;
    const min = Math.min(this.prevMinRtt, this.curMinRtt);
    return Number.isFinite(min) ? Math.max(1, Math.min(50, min / 2)) : 10;
  }

  /**
   * Admits now (waiter.onAdmit), queues, or sheds (waiter.onShed) — callbacks may run synchronously.
   * `tag` (the tier) is handed back to the onShed hook. Returns the request's place when it waits
   * (for `withdraw`), else null.
   */
  admit(priority: number, waiter: Waiter, tag = ''): Ticket | null {
    if (this.inflight < this.capacityFor(priority) && !this.betterOrEqualWaiting(priority)) {
      waiter.onAdmit(this.grant(priority));
      return null;
    }
    const wait = this.maxWaitMs;
    if (wait <= 0) {
      this.shedNow(waiter, priority, 'no-wait', tag);
      return null;
    }
    if (this.queued >= this.maxQueue) {
      const victim = this.evictWorseThan(priority);
      if (victim === null) {
        this.shedNow(waiter, priority, 'queue-full', tag);
        return null;
      }
      this.shedNow(victim.waiter, victim.priority, 'evicted', victim.tag);
    }
    const q: Queued = { waiter, priority, tag, deadline: this.clock() + wait, live: true };
    this.fifoFor(priority).push(q);
    this.queued++;
    return q;
  }

  /**
   * A waiting request whose client left: out of the queue now, neither admitted nor shed (it is no
   * 503, and it must not hold a place in the bounded queue or the `queued` gauge until its deadline).
   * False when it no longer waits.
   */
  withdraw(ticket: Ticket): boolean {
    const q = ticket as Queued;
    if (!q.live) return false;
    this.fifoFor(q.priority).remove(q);
    this.queued--;
    return true;
  }

  /** Sheds waiters whose wait is over; returns the next deadline, or null when nobody waits. */
  sweep(now: number): number | null {
    let next: number | null = null;
    for (const { priority, fifo } of this.queues) {
      for (let q = fifo.peek(); q !== undefined; q = fifo.peek()) {
        if (q.deadline > now) {
          if (next === null || q.deadline < next) next = q.deadline;
          break;
        }
        fifo.shift();
        this.queued--;
        this.shedNow(q.waiter, priority, 'timeout', q.tag);
      }
    }
    return next;
  }

  /**
   * Answers every waiter at once with `shutdown` (their connections are about to be cut). Not
   * counted as shed: the upstream was not at its limit for them, the sidecar is going away.
   */
  shedAll(): void {
    for (const { fifo } of this.queues) {
      for (let q = fifo.shift(); q !== undefined; q = fifo.shift()) {
        this.queued--;
        q.waiter.onShed('shutdown');
      }
    }
  }

  /**
   * Admits every waiter at once, whatever the limit (the limit is being removed: a reload without
   * `upstream.adaptiveConcurrency`). Best priority first, FIFO within one. The queue is emptied
   * before any callback runs, so a callback that settles a permit finds nobody left to dispatch.
   * Returns how many were admitted.
   */
  admitAll(): number {
    const waiting: Queued[] = [];
    for (const { fifo } of this.queues) for (let q = fifo.shift(); q !== undefined; q = fifo.shift()) waiting.push(q);
    this.queued = 0;
    for (const q of waiting) q.waiter.onAdmit(this.grant(q.priority));
    return waiting.length;
  }

  stats(): LimiterStats {
    return { limit: this.limit, inflight: this.inflight, queued: this.queued, admitted: this.admitted, shed: this.shed, maxWaitMs: this.maxWaitMs };
  }

  /** Called by Permit. */
  settle(permit: Permit, rttMs: number, didDrop: boolean, sample: boolean): void {
    if (permit.settled) return;
    permit.settled = true;
    this.inflight--;
    if (sample) {
      const now = this.clock();
      if (!didDrop && rttMs > 0) this.noteRtt(rttMs, now);
      this.limitStrategy.onSample(rttMs, permit.inflight, didDrop, now);
    }
    this.dispatch();
  }

  private grant(priority: number): Permit {
    this.inflight++;
    this.admitted++;
    // a request that fills its priority's share of the limit was held back by the limit, not by the
    // application: the strategies must see it so (their "in use" test is inflight ≥ limit / 2, and
    // a share of 0.5, floored, is below that — traffic of such tiers alone never let the limit grow,
    // not even back from minLimit after an overload)
    const inflight = this.inflight >= this.capacityFor(priority) ? Math.max(this.inflight, this.limit) : this.inflight;
    return new Permit(this, priority, inflight);
  }

  private shedNow(waiter: Waiter, priority: number, reason: ShedReason, tag: string): void {
    this.shed++;
    this.onShedHook?.(priority, reason, tag);
    waiter.onShed(reason);
  }

  /** Hands freed slots to the best waiters (re-entrant calls from a waiter's callback are folded in). */
  private dispatch(): void {
    if (this.dispatching) {
      this.redispatch = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.redispatch = false;
        this.dispatchOnce();
      } while (this.redispatch);
    } finally {
      this.dispatching = false;
    }
  }

  private dispatchOnce(): void {
    if (this.queued === 0) return;
    for (let i = 0; i < this.queues.length; i++) {
      const { priority, fifo } = this.queues[i]!;
      while (fifo.size > 0) {
        if (this.inflight >= this.capacityFor(priority)) return; // worse priorities have less room still
        const q = fifo.shift();
        if (q === undefined) break;
        this.queued--;
        q.waiter.onAdmit(this.grant(priority));
      }
    }
  }

  private betterOrEqualWaiting(priority: number): boolean {
    if (this.queued === 0) return false;
    for (const { priority: p, fifo } of this.queues) {
      if (p > priority) return false;
      if (fifo.size > 0) return true;
    }
    return false;
  }

  private evictWorseThan(priority: number): Queued | null {
    for (let i = this.queues.length - 1; i >= 0; i--) {
      const { priority: p, fifo } = this.queues[i]!;
      if (p <= priority) return null;
      if (fifo.size > 0) {
        const victim = fifo.pop();
        if (victim) {
          this.queued--;
          return victim;
        }
      }
    }
    return null;
  }

  private fifoFor(priority: number): Fifo {
    for (const q of this.queues) if (q.priority === priority) return q.fifo;
    const fifo = new Fifo();
    let at = this.queues.length;
    while (at > 0 && this.queues[at - 1]!.priority > priority) at--;
    this.queues.splice(at, 0, { priority, fifo });
    return fifo;
  }

  private noteRtt(rttMs: number, now: number): void {
    if (now - this.rttWindowStart >= 10_000) {
      this.prevMinRtt = this.curMinRtt;
      this.curMinRtt = Infinity;
      this.rttWindowStart = now;
    }
    if (rttMs < this.curMinRtt) this.curMinRtt = rttMs;
  }
}
