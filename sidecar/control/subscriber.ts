/**
 * Keeps a ControlState current from a ControlPlane (Redis in production, in-memory in the demo):
 * subscribes to the channel first, then loads the three hashes, so nothing written in between is
 * missed. Loads again on every reconnect of the subscription, on a gap in `seq` (a seq more than one
 * above the last, or below the highest message seq seen: Redis went back in time), and every 30 s;
 * loads are coalesced (one running, at most one queued), and a load that fails is retried with
 * backoff (100 ms … 5 s), each failure counted (`control_reload_errors_total`). A message that does
 * not decode is counted and ignored (`control_bad_messages_total`); a message older than the state
 * it would change is ignored (ControlState) and counted (`control_stale_messages_total`).
 */
import { decodeControlMessage } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import type { Logger } from '../log.js';
import type { SidecarMetrics } from '../metrics.js';
import { ControlState } from './controlState.js';

export type ReloadCause = 'start' | 'reconnect' | 'gap' | 'interval';

export interface SubscriberOptions {
  readonly metrics?: SidecarMetrics;
  readonly logger?: Logger;
  /** Periodic full load (default 30 s). */
  readonly intervalMs?: number;
  /** How long start() waits for the first load before going on without it (default 5 s). */
  readonly startTimeoutMs?: number;
}

export class ControlPlaneSubscriber {
  private unsubscribe: (() => Promise<void>) | null = null;
  private interval: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;
  private queued: ReloadCause | null = null;
  private closed = false;
  /** Whether at least one full load succeeded. */
  loaded = false;
  badMessages = 0;
  /** Messages older than the state held for their field (ignored). */
  staleMessages = 0;
  /** Resolves on the first successful load (start() waits for it). */
  private resolveFirstLoad!: () => void;
  private readonly firstLoad = new Promise<void>((resolve) => (this.resolveFirstLoad = resolve));
  /** Consecutive failed loads, and the timer of the retry after the last one. */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The highest seq a message carried: on one Redis messages come in seq order, so one below it means Redis went back in time. */
  private maxMessageSeq = 0;

  constructor(
    private readonly plane: ControlPlane,
    readonly state: ControlState,
    private readonly opts: SubscriberOptions = {},
  ) {}

  /**
   * Subscribes and loads, concurrently; resolves when both are done — a load that succeeded, not
   * merely one that ended — or `startTimeoutMs` (default 5 s) has passed: a Redis that is down delays
   * start-up by that much at most (failMode decides then), and both keep retrying in the background.
   */
  async start(): Promise<void> {
    const timeoutMs = this.opts.startTimeoutMs ?? 5_000;
    this.interval = setInterval(() => this.reload('interval'), this.opts.intervalMs ?? 30_000);
    this.interval.unref();
    const subscribed = this.subscribeLoop(0);
    void this.reload('start');
    await withTimeout(Promise.all([subscribed, this.firstLoad]), timeoutMs, 'control-plane start').catch((err: Error) => {
      this.opts.logger?.warn({ err: err.message }, 'control plane: not ready yet; going on and retrying in the background');
    });
  }

  /** Subscribes, retrying with backoff until it works or the subscriber closes. */
  private subscribing: Promise<void> | null = null;
  private subscribeLoop(attempt: number): Promise<void> {
    this.subscribing ??= (async () => {
      for (let i = attempt; !this.closed; i++) {
        try {
          const unsubscribe = await this.plane.subscribe(this.onMessage, () => void this.reload('reconnect'));
          if (this.closed) {
            await unsubscribe().catch(() => undefined);
            return;
          }
          this.unsubscribe = unsubscribe;
          // whatever was published before the subscription took effect may be missing from a load
          // that read earlier — the start load too, which may have read already: load (again)
          void this.reload('reconnect');
          return;
        } catch (err) {
          if (i === 0) this.opts.logger?.warn({ err: (err as Error).message }, 'control plane: subscribe failed; retrying');
          await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** Math.min(i, 5))).unref());
        }
      }
    })();
    return this.subscribing;
  }

  readonly onMessage = (raw: string): void => {
    const t0 = performance.now();
    const decoded = decodeControlMessage(raw);
    if (!decoded.ok) {
      this.badMessages++;
      this.opts.metrics?.controlBadMessages.inc();
      if (this.badMessages === 1 || this.badMessages % 100 === 0) this.opts.logger?.warn({ error: decoded.error, count: this.badMessages }, 'control plane: bad message ignored');
      return;
    }
    const msg = decoded.value;
    // a seq below an earlier message's: Redis lost writes (failover, restart from an older snapshot),
    // or a Cluster delivered two writes out of order; a load tells which (ControlState.replace)
    const gap = this.loaded && (msg.seq > this.state.lastSeq + 1 || msg.seq < this.maxMessageSeq);
    if (msg.seq > this.maxMessageSeq) this.maxMessageSeq = msg.seq;
    // older than what is held for its field: ignored, and counted
    if (!this.state.apply(msg)) {
      this.staleMessages++;
      this.opts.metrics?.controlStaleMessages.inc();
    }
    this.opts.metrics?.controlSeq.set(this.state.lastSeq);
    this.opts.metrics?.controlApplySeconds.observe((performance.now() - t0) / 1000);
    if (gap) this.reload('gap');
  };

  /** Loads the full state (coalesced). */
  reload(cause: ReloadCause): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.loading !== null) {
      this.queued ??= cause;
      return this.loading;
    }
    this.loading = this.loadOnce(cause).then((ok) => {
      this.loading = null;
      const next = this.queued;
      this.queued = null;
      if (this.closed) return;
      if (next !== null) void this.reload(next);
      else if (!ok) this.retrySoon(cause);
    });
    return this.loading;
  }

  /** A failed load is tried again after 100 ms, doubling up to 5 s, not only at the next interval. */
  private retrySoon(cause: ReloadCause): void {
    if (this.retryTimer !== null) return;
    const delay = Math.min(5_000, 100 * 2 ** Math.min(this.failures - 1, 6));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.reload(cause);
    }, delay); // not unref'd: start() may be waiting on it; close() clears it
  }

  private async loadOnce(cause: ReloadCause): Promise<boolean> {
    const t0 = performance.now();
    try {
      const mark = this.state.beginLoad();
      const resets = this.state.resets;
      const loaded = await this.plane.read();
      this.state.replace(loaded, mark);
      if (this.state.resets !== resets) {
        this.maxMessageSeq = this.state.lastSeq;
        this.opts.logger?.warn({ seq: loaded.seq, cause }, 'control plane: seq went backwards (Redis lost writes or its state); reloaded everything from it');
      }
      if (loaded.invalid.length > 0) {
        this.badMessages += loaded.invalid.length;
        this.opts.metrics?.controlBadMessages.inc(loaded.invalid.length);
        this.opts.logger?.warn({ invalid: loaded.invalid.slice(0, 5) }, 'control plane: stored fields that do not decode were ignored');
      }
      this.loaded = true;
      this.failures = 0;
      this.resolveFirstLoad();
      this.opts.metrics?.controlReloads.inc({ cause });
      this.opts.metrics?.controlSeq.set(this.state.lastSeq);
      this.opts.metrics?.controlApplySeconds.observe((performance.now() - t0) / 1000);
      return true;
    } catch (err) {
      this.failures++;
      this.opts.metrics?.controlReloadErrors.inc();
      // once, then about once a minute while Redis stays away (retries come every 5 s)
      if (this.failures === 1 || this.failures % 12 === 0) this.opts.logger?.warn({ err: (err as Error).message, cause, failures: this.failures }, 'control plane: load failed; keeping the current state and retrying');
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.interval !== null) clearInterval(this.interval);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    if (unsubscribe) await unsubscribe().catch(() => undefined);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      timer.unref();
    }),
  ]);
}
