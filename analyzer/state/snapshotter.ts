/**
 * Writes the analyzer's state snapshots: every `everyMs` (default 60 s) the clients that learned
 * since their last snapshot, plus the consumer group's population rings and warm-up mark; every
 * `urgentEveryMs` (1 s) the clients whose decision state changed (an episode opened or closed, an
 * action applied or ended, an operator's decision) and the clients that left this instance (evicted,
 * or their partition revoked: the new owner restores them); and all of it on `stop()` (graceful
 * shutdown). Encoding runs in slices of `sliceSize` clients, each written before the next is
 * encoded, so the event loop keeps serving ingest. A failed write leaves the clients dirty for the
 * next flush (counted). Flushes run one at a time.
 *
 * What is worth keeping, and for how long, bounds what clients can make us store: a client is
 * written once it has learned `minWindows` clean 10 s windows (default: the analyzer's
 * minHistory10s, 30 — five minutes of normal traffic; a younger client leans on its tier's
 * population anyway) or has a decision state (an episode, an action, a suppression). It is kept
 * `youngTtlMs` (1 h) until it has an hour of history, then the store's TTL (7 days). So identities
 * that come and go — rotated IPs, one-off keys — are not written at all, and a client that is
 * written for a week had to be active and normal for an hour.
 */
import type { Analyzer, LogFn } from '../analyzer.js';
import type { ClientState } from '../clientState.js';
import { ByteWriter } from './binary.js';
import { encodeClientState, encodePopulationRing } from './snapshotCodec.js';
import type { ClientStateStore } from './stateStore.js';

export interface SnapshotterOptions {
  /** Periodic flush of every client that learned; default 60 s. */
  readonly everyMs?: number;
  /** Flush of the clients whose decisions changed or who left; default 1 s. */
  readonly urgentEveryMs?: number;
  /** Clients encoded and written per step; default 500. */
  readonly sliceSize?: number;
  readonly clock?: () => number;
  readonly log?: LogFn;
  /** Clean 10 s windows a client must have learned before it is written (or a decision state); default minHistory10s. */
  readonly minWindows?: number;
  /** TTL of a client with less than `establishedMinutes` of history; default 1 h. */
  readonly youngTtlMs?: number;
  /** Minutes of history after which a client is kept the store's full TTL; default 60. */
  readonly establishedMinutes?: number;
}

export interface FlushResult {
  readonly clients: number;
  readonly bytes: number;
  readonly ok: boolean;
}

export const DEFAULT_SNAPSHOT_EVERY_MS = 60_000;

export class StateSnapshotter {
  private chain: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private readonly writer = new ByteWriter(16_384);
  private readonly clock: () => number;
  private readonly log: LogFn;
  private readonly sliceSize: number;
  private writtenPopulation = -1;
  private writtenWarm: number | null = null;
  private stopped = false;
  private readonly minWindows: number;
  private readonly youngTtlMs: number;
  private readonly establishedMinutes: number;

  constructor(
    private readonly analyzer: Analyzer,
    private readonly store: ClientStateStore,
    private readonly opts: SnapshotterOptions = {},
  ) {
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? (() => undefined);
    this.sliceSize = opts.sliceSize ?? 500;
    this.minWindows = opts.minWindows ?? analyzer.options.minHistory10s;
    this.youngTtlMs = opts.youngTtlMs ?? 3_600_000;
    this.establishedMinutes = opts.establishedMinutes ?? 60;
  }

  /** Whether a client has learned enough to be worth writing, and for how long (null: not written). */
  ttlFor(st: ClientState): number | null {
    const d = st.decision;
    const decided = d.episode !== null || d.lastAction !== null || d.suppressedUntil > this.clock();
    if (!decided && !(st.hasModel && st.b10.windows >= this.minWindows)) return null;
    return st.minutes >= this.establishedMinutes ? this.store.ttlMs : Math.min(this.youngTtlMs, this.store.ttlMs);
  }

  start(): void {
    const every = this.opts.everyMs ?? DEFAULT_SNAPSHOT_EVERY_MS;
    const urgent = this.opts.urgentEveryMs ?? 1_000;
    const periodic = setInterval(() => void this.flush().catch(() => undefined), every);
    const quick = setInterval(() => void this.flushUrgent().catch(() => undefined), urgent);
    periodic.unref();
    quick.unref();
    this.timers.push(periodic, quick);
  }

  /** Every client that learned since its snapshot, then the group's state. */
  flush(): Promise<FlushResult> {
    return this.serial(async () => {
      const clients = await this.write(this.analyzer.takeDirty());
      const group = await this.writeGroup();
      return { clients: clients.clients, bytes: clients.bytes + group.bytes, ok: clients.ok && group.ok };
    });
  }

  /** The clients whose decision state changed or who left this instance. */
  flushUrgent(): Promise<FlushResult> {
    return this.serial(() => this.write(this.analyzer.takeUrgent()));
  }

  /** Stops the timers; `final`: writes what is dirty first (graceful shutdown, revocation of everything). */
  async stop(final = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (final) await this.flush().catch(() => undefined);
    else await this.chain.catch(() => undefined);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(all: ClientState[]): Promise<FlushResult> {
    try {
      return await this.writeAll(all);
    } finally {
      this.analyzer.writeDone(all);
    }
  }

  private async writeAll(all: ClientState[]): Promise<FlushResult> {
    const states: ClientState[] = [];
    const ttls: number[] = [];
    for (const st of all) {
      const ttl = this.ttlFor(st);
      if (ttl === null) continue;
      states.push(st);
      ttls.push(ttl);
    }
    if (all.length > states.length) this.analyzer.metrics.stateSnapshotsSkipped.inc(all.length - states.length);
    if (states.length === 0) return { clients: 0, bytes: 0, ok: true };
    const m = this.analyzer.metrics;
    const stop = m.stateFlushSeconds.startTimer();
    const seriesName = this.analyzer.seriesDetector;
    let clients = 0;
    let bytes = 0;
    try {
      for (let i = 0; i < states.length; i += this.sliceSize) {
        const part = states.slice(i, i + this.sliceSize);
        const now = this.clock();
        const entries = part.map((st, k) => [st.key, encodeClientState(st, seriesName, now, this.writer), ttls[i + k]!] as const);
        try {
          await this.store.putClients(entries);
        } catch (err) {
          // this slice and the rest stay dirty: the next flush retries them
          this.analyzer.markDirty(states.slice(i));
          m.stateSnapshotErrors.inc();
          this.log('warn', 'writing state snapshots failed; retried with the next flush', { clients: states.length - i, err: (err as Error).message });
          return { clients, bytes, ok: false };
        }
        let partBytes = 0;
        for (const [, b] of entries) partBytes += b.length;
        clients += part.length;
        bytes += partBytes;
        m.stateSnapshots.inc(part.length);
        m.stateSnapshotBytes.inc(partBytes);
      }
      return { clients, bytes, ok: true };
    } finally {
      stop();
    }
  }

  private async writeGroup(): Promise<FlushResult> {
    const a = this.analyzer;
    const version = a.population.version;
    const warm = a.warmSince;
    if (version === this.writtenPopulation && warm === this.writtenWarm) return { clients: 0, bytes: 0, ok: true };
    const now = this.clock();
    const rings: Array<[string, Uint8Array]> = [];
    let bytes = 0;
    for (const [key, ring] of a.population.entries()) {
      if (ring.size === 0) continue;
      const encoded = encodePopulationRing(ring, now);
      bytes += encoded.length;
      rings.push([key, encoded]);
    }
    try {
      await this.store.putGroup(warm, rings);
      this.writtenPopulation = version;
      this.writtenWarm = warm;
      a.metrics.stateSnapshotBytes.inc(bytes);
      return { clients: 0, bytes, ok: true };
    } catch (err) {
      a.metrics.stateSnapshotErrors.inc();
      this.log('warn', 'writing the group state failed; retried with the next flush', { err: (err as Error).message });
      return { clients: 0, bytes: 0, ok: false };
    }
  }
}
