/**
 * Restores clients from their snapshots without making ingest wait on Redis. A client the analyzer
 * does not hold (first event after a start, a rebalance or an eviction) is *held*: its events are
 * buffered while its snapshot is looked up, in batches (one MGET of up to `batchSize` clients, at
 * most `maxInFlight` lookups at once); when the answer arrives, the analyzer creates the client
 * (from the snapshot, or fresh) and replays the buffered events in order. Ingest itself never
 * awaits: `hold` is a map lookup and a push.
 *
 * Bounded: at most `maxPending` clients waiting and `maxBuffered` events buffered in all,
 * `maxPerClient` per client. Beyond a bound, or for `backoffMs` after a lookup failed or timed out
 * (`timeoutMs`), clients are admitted fresh at once (counted as `skipped`); a client whose buffer
 * is full is admitted fresh with what it buffered, and its snapshot, when it comes, is ignored.
 * The analyzer's tick waits (≤ timeoutMs) for the lookups under way before it closes windows, so
 * held events land in their windows, not late.
 */
import type { CallEvent } from '../../models/events.js';
import type { ClientStateStore } from './stateStore.js';

export interface RestorerLimits {
  readonly batchSize: number;
  readonly maxInFlight: number;
  readonly maxPending: number;
  readonly maxBuffered: number;
  readonly maxPerClient: number;
  readonly timeoutMs: number;
  readonly backoffMs: number;
}

export const DEFAULT_RESTORER_LIMITS: RestorerLimits = {
  batchSize: 256,
  maxInFlight: 4,
  maxPending: 20_000,
  maxBuffered: 200_000,
  maxPerClient: 2_000,
  timeoutMs: 1_000,
  backoffMs: 5_000,
};

export interface PendingClient {
  readonly client: string;
  /** Partition of its latest event. */
  partition: number;
  /** Its events so far, in arrival order. */
  readonly events: CallEvent[];
  readonly seq: number;
  abandoned: boolean;
}

/** What a lookup found: `found` (bytes to decode), `absent`, or `error` (failed or timed out). */
export type LookupOutcome = 'found' | 'absent' | 'error';

export interface RestorerHooks {
  /** The lookup of `p` finished: create the client and replay `p.events`. */
  deliver(p: PendingClient, bytes: Uint8Array | null, outcome: LookupOutcome): void;
  /** A client admitted without its snapshot (a bound, or the store backing off). */
  skipped(): void;
  /** Seconds one batch lookup took. */
  lookupSeconds(seconds: number): void;
  warn(msg: string, fields: Record<string, unknown>): void;
}

interface Waiter {
  readonly mark: number;
  readonly resolve: () => void;
}

export class ClientRestorer {
  private readonly pending = new Map<string, PendingClient>();
  private queue: PendingClient[] = [];
  private inFlight = 0;
  private buffered = 0;
  private seq = 0;
  private scheduled = false;
  private pausedUntil = 0;
  private waiters: Waiter[] = [];
  readonly limits: RestorerLimits;

  constructor(
    private readonly store: ClientStateStore,
    private readonly hooks: RestorerHooks,
    private readonly clock: () => number = Date.now,
    limits: Partial<RestorerLimits> = {},
  ) {
    this.limits = { ...DEFAULT_RESTORER_LIMITS, ...limits };
  }

  /** Clients waiting for their snapshot, and events buffered for them. */
  get stats(): { pending: number; buffered: number; inFlight: number } {
    return { pending: this.pending.size, buffered: this.buffered, inFlight: this.inFlight };
  }

  isPending(client: string): boolean {
    return this.pending.has(client);
  }

  /**
   * Ingest path, for an event of a client the analyzer does not hold: buffers it while the
   * client's snapshot is looked up (true), or refuses (false: admit the client now — first call
   * `abandon` to get what it had buffered).
   */
  hold(e: CallEvent, partition: number): boolean {
    const l = this.limits;
    let p = this.pending.get(e.client);
    if (p === undefined) {
      if (this.pending.size >= l.maxPending || this.buffered >= l.maxBuffered || this.clock() < this.pausedUntil) {
        this.hooks.skipped();
        return false;
      }
      p = { client: e.client, partition, events: [], seq: ++this.seq, abandoned: false };
      this.pending.set(e.client, p);
      this.queue.push(p);
      this.schedule();
    } else if (p.events.length >= l.maxPerClient || this.buffered >= l.maxBuffered) return false;
    p.partition = partition;
    p.events.push(e);
    this.buffered++;
    return true;
  }

  /** Stops waiting for `client`: returns its buffered events (its snapshot, if it comes, is ignored), or null. */
  abandon(client: string): CallEvent[] | null {
    const p = this.pending.get(client);
    if (!p) return null;
    this.remove(p);
    this.hooks.skipped();
    this.wake();
    return p.events;
  }

  /** Forgets the clients held for these partitions (revoked: the new owner reads their events). Returns the events dropped. */
  drop(partitions: ReadonlySet<number>): number {
    let dropped = 0;
    for (const p of [...this.pending.values()]) {
      if (!partitions.has(p.partition)) continue;
      dropped += p.events.length;
      this.remove(p);
    }
    this.wake();
    return dropped;
  }

  /**
   * Resolves once every client held now has been delivered, or after `timeoutMs` (default twice the
   * lookup timeout: a lookup that times out delivers its clients fresh before the wait ends).
   */
  settled(timeoutMs: number = 2 * this.limits.timeoutMs): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    const mark = this.seq;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const waiter: Waiter = { mark, resolve: done };
      this.waiters.push(waiter);
    });
  }

  private remove(p: PendingClient): void {
    p.abandoned = true;
    this.pending.delete(p.client);
    this.buffered -= p.events.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // after the current ingest batch: every client it held goes into one lookup
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const l = this.limits;
    while (this.inFlight < l.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, l.batchSize).filter((p) => !p.abandoned);
      if (batch.length > 0) this.lookup(batch);
    }
  }

  private lookup(batch: PendingClient[]): void {
    this.inFlight++;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`state lookup timed out after ${this.limits.timeoutMs} ms`)), this.limits.timeoutMs);
    });
    Promise.race([this.store.getClients(batch.map((p) => p.client)), timeout])
      .then(
        (values) => {
          this.hooks.lookupSeconds((performance.now() - started) / 1000);
          this.finish(batch, values);
        },
        (err: unknown) => {
          // the store is down or slow: admit new clients fresh for a while instead of holding them
          this.pausedUntil = this.clock() + this.limits.backoffMs;
          this.hooks.warn('state lookup failed; clients start fresh', { clients: batch.length, err: (err as Error).message, backoffMs: this.limits.backoffMs });
          this.finish(batch, null);
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.inFlight--;
        this.pump();
      });
  }

  private finish(batch: readonly PendingClient[], values: ReadonlyArray<Uint8Array | null> | null): void {
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      if (p.abandoned) continue;
      this.remove(p);
      const bytes = values?.[i] ?? null;
      try {
        this.hooks.deliver(p, bytes, values === null ? 'error' : bytes === null ? 'absent' : 'found');
      } catch (err) {
        this.hooks.warn('restoring a client failed', { client: p.client, err: (err as Error).message });
      }
    }
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const oldest = this.pending.size === 0 ? Number.POSITIVE_INFINITY : this.pending.values().next().value!.seq;
    for (const w of [...this.waiters]) if (oldest > w.mark) w.resolve();
  }
}
