/**
 * The analyzer's EventSource in production: a kafkajs consumer group on `ratewarden.events`.
 * Instances of one group split the topic's partitions (messages are keyed by client, so a client's
 * events stay on one partition and one instance).
 *
 * Delivery: each batch is decoded (decodeCallEvent; undecodable messages, and events whose time
 * is out of bounds of the clock — eventTime.ts — are counted through `onBad` and skipped), handed to the handler — which updates the analyzer's state — and only then
 * is the batch's offset committed. An instance that dies between the two replays at most that one
 * batch on the new owner: events are processed at least once, duplicates bounded by one batch
 * (≤ maxBytesPerPartition) per partition per failure. Long batches heartbeat every 2,000 messages.
 *
 * With `scoredUntil` (the analyzer's mark per partition) the commit is held back further, to the
 * first offset of the oldest window not yet scored (commitGate.ts): a crashed instance's open
 * windows are read again by the next owner and scored there. Held-back offsets move forward after
 * each batch and every `commitEveryMs` (1 s) as windows get scored. Because kafkajs restarts every
 * partition from its committed offset after a rebalance, partitions this instance keeps are sought
 * back to where it had read, so it does not read its own open windows twice.
 *
 * Rebalance: kafkajs reports the new assignment after each join; partitions that left are passed
 * to `onRevoked`, so the analyzer closes their open windows (the new owner counts the rest — with
 * `scoredUntil`, the new owner reads those windows whole from the held-back offset). When kafkajs
 * sees the rebalance, before it joins again, held-back offsets are brought up to the mark once more
 * (still this generation's: the coordinator accepts them until the join), and so they are at stop():
 * the next owner does not read again windows scored since the last commit. `consumer_lag` (onLag)
 * follows the assignment at once: partitions that left no longer count.
 *
 * Crash: when the kafkajs consumer crashes it leaves the group, so every partition it held is treated
 * as revoked (the analyzer closes their windows; whoever reads them next — this instance after the
 * restart, or another — starts at the held-back commit). A crash kafkajs does not restart from (an
 * error it deems not retriable: a compression codec it lacks — lz4, snappy, zstd —, an authorization
 * failure, a TypeError thrown in the handler) ends run() with that error, so the analyzer stops
 * saying it is consuming (/healthz 503) instead of idling with a dead consumer.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { decodeCallEvent, type CallEvent } from '../../models/events.js';
import type { EventBatchMeta, EventSource } from '../../models/eventBus.js';
import { CommitGate } from './commitGate.js';
import { describeEventTimeFault, eventTimeFault } from './eventTime.js';

export interface KafkaEventSourceOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly groupId: string;
  /** Where a group without committed offsets starts: the beginning (true) or new messages only (default). */
  readonly fromBeginning?: boolean;
  readonly maxBytesPerPartition?: number;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Partitions this instance no longer owns after a rebalance. */
  readonly onRevoked?: (partitions: number[]) => void | Promise<void>;
  /** Partitions this instance owns after a rebalance. */
  readonly onAssigned?: (partitions: number[]) => void;
  /** Sum of the lag (messages behind the head) of the partitions consumed, after each batch. */
  readonly onLag?: (lag: number) => void;
  readonly onError?: (err: Error) => void;
  /**
   * Event time before which every window of a partition has been scored (Analyzer.scoredUntil):
   * commits are held back to the oldest window not scored yet. Absent: commit after each batch.
   */
  readonly scoredUntil?: (partition: number) => number;
  /** Window length the analyzer scores (10 s). */
  readonly windowMs?: number;
  /** How often held-back offsets are committed as windows get scored; default 1 s. */
  readonly commitEveryMs?: number;
  /** The analyzer's clock (default Date.now): events with times out of bounds of it are skipped as bad (eventTime.ts). */
  readonly clock?: () => number;
}

const HEARTBEAT_EVERY = 2_000;

/** Why kafkajs could not read a batch it has no codec for (it reads gzip and uncompressed ones only). */
const CODEC_HINT =
  "kafkajs reads uncompressed and gzip batches only: the topic's compression.type must be producer, gzip or uncompressed, and no producer may use snappy, lz4 or zstd";

export class KafkaEventSource implements EventSource {
  private consumer: Consumer | null = null;
  private assigned = new Set<number>();
  private readonly lag = new Map<number, number>();
  private stopped: (() => void) | null = null;
  /** Ends run() with an error: the consumer crashed and kafkajs does not restart it. */
  private failed: ((err: Error) => void) | null = null;
  private readonly gate: CommitGate | null;
  /** Last offset committed per partition (with the gate). */
  private readonly committed = new Map<number, bigint>();
  private commits: Promise<unknown> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | null = null;
  /** Messages decoded and handed over, and messages skipped as undecodable. */
  readonly stats = { events: 0, bad: 0, batches: 0, commits: 0, crashes: 0 };

  constructor(private readonly opts: KafkaEventSourceOptions) {
    this.gate = opts.scoredUntil ? new CommitGate(opts.windowMs ?? 10_000) : null;
  }

  /**
   * Windows the commit gate stopped holding back past its bound (4,096 per partition): the commit
   * may pass their events before they are scored, so a crash could lose them
   * (`ratewarden_commit_windows_forgotten_total`, AnalyzerMetrics.watchIngest).
   */
  get windowsForgotten(): number {
    return this.gate?.forgotten ?? 0;
  }

  /** Offsets committed per partition by the gate (held back), for tests and metrics. */
  get committedOffsets(): ReadonlyMap<number, bigint> {
    return this.committed;
  }

  get partitions(): number[] {
    return [...this.assigned].sort((a, b) => a - b);
  }

  get totalLag(): number {
    let sum = 0;
    for (const [p, l] of this.lag) if (this.assigned.has(p)) sum += l;
    return sum;
  }

  async run(handler: (events: readonly CallEvent[], meta: EventBatchMeta) => Promise<void>, onBad?: (error: string) => void): Promise<void> {
    const { kafka, topic, groupId } = this.opts;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: this.opts.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: this.opts.heartbeatIntervalMs ?? 1_000,
      rebalanceTimeout: 20_000,
      maxBytesPerPartition: this.opts.maxBytesPerPartition ?? 1_048_576,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: true,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (this.consumer === consumer) this.joined(consumer, e.payload.memberAssignment[topic] ?? []);
    });
    // emitted before kafkajs joins again: this generation may still commit what has been scored since
    consumer.on(consumer.events.REBALANCING, () => {
      if (this.consumer === consumer && this.gate) this.commitNow(consumer);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (this.consumer === consumer) this.crashed(e.payload.error, e.payload.restart);
    });
    const done = new Promise<void>((resolve, reject) => {
      this.stopped = resolve;
      this.failed = reject;
    });
    // a crash can end it before run() awaits it
    done.catch(() => undefined);
    // a missing topic or an unreachable broker at start-up is retried until stop(), not fatal
    for (let attempt = 0; ; attempt++) {
      try {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: this.opts.fromBeginning ?? false });
        break;
      } catch (err) {
        if (this.consumer !== consumer) return;
        this.opts.onError?.(err as Error);
        await consumer.disconnect().catch(() => undefined);
        await Promise.race([done, new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)))]);
        if (this.consumer !== consumer) return;
      }
    }
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.batch(payload, handler, onBad),
    });
    // stopped, or crashed for good, while joining: no timer for a consumer that is gone
    if (this.gate && this.consumer === consumer) {
      this.commitTimer = setInterval(() => void this.commitHeld(consumer), this.opts.commitEveryMs ?? 1_000);
      this.commitTimer.unref();
    }
    await done;
  }

  /** The assignment after a join: partitions that left are revoked, those kept continue where this instance had read. */
  private joined(consumer: Consumer, partitions: readonly number[]): void {
    const topic = this.opts.topic;
    const now = new Set<number>(partitions);
    const revoked = [...this.assigned].filter((p) => !now.has(p));
    const kept = [...this.assigned].filter((p) => now.has(p));
    this.assigned = now;
    for (const p of revoked) this.lag.delete(p);
    if (this.gate) {
      for (const p of revoked) {
        this.gate.forget(p);
        this.committed.delete(p);
      }
      // kafkajs resumes every partition from its committed (held-back) offset after a join: a
      // partition kept continues where this instance had read (seek runs before the next fetch)
      for (const p of kept) {
        const next = this.gate.next(p);
        if (next === null) continue;
        try {
          consumer.seek({ topic, partition: p, offset: String(next) });
        } catch (err) {
          this.opts.onError?.(err as Error);
        }
      }
    }
    this.revoke(revoked);
    this.opts.onAssigned?.(this.partitions);
    // the lag of partitions that left is the new owner's to report
    this.opts.onLag?.(this.totalLag);
  }

  /**
   * The kafkajs consumer crashed: it disconnected, so it left the group and every partition it held
   * may be read by another member from its committed offset. They are revoked here (the analyzer
   * closes their windows), so nothing of them is counted twice when they come back, to this instance
   * (kafkajs restarts from the committed offsets) or to another. Not restarted: run() ends with the error.
   */
  private crashed(error: Error, restart: boolean): void {
    this.stats.crashes++;
    this.opts.onError?.(error);
    const revoked = this.partitions;
    this.assigned = new Set();
    this.lag.clear();
    if (this.gate) for (const p of revoked) this.gate.forget(p);
    this.committed.clear();
    this.revoke(revoked);
    this.opts.onAssigned?.([]);
    this.opts.onLag?.(0);
    if (restart) return;
    // kafkajs gave up on this consumer (an error it deems not retriable): say so instead of idling
    if (this.commitTimer) clearInterval(this.commitTimer);
    this.commitTimer = null;
    this.consumer = null;
    const hint = error.name === 'KafkaJSNotImplemented' ? ` (${CODEC_HINT})` : '';
    const fail = this.failed;
    this.stopped = null;
    this.failed = null;
    fail?.(new Error(`the Kafka consumer crashed and kafkajs does not restart it: ${error.message}${hint}`, { cause: error }));
  }

  private revoke(partitions: number[]): void {
    if (partitions.length === 0) return;
    try {
      void Promise.resolve(this.opts.onRevoked?.(partitions)).catch((err: unknown) => this.opts.onError?.(err as Error));
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  /** Offsets the gate allows now, per partition held, that are beyond what was committed. */
  private held(): Array<{ partition: number; offset: bigint }> {
    const out: Array<{ partition: number; offset: bigint }> = [];
    for (const p of this.assigned) {
      const offset = this.gate!.committable(p, this.opts.scoredUntil!(p));
      if (offset === null) continue;
      const next = BigInt(offset);
      if (next > (this.committed.get(p) ?? -1n)) out.push({ partition: p, offset: next });
    }
    return out;
  }

  private commitOffsets(consumer: Consumer, offsets: ReadonlyArray<{ partition: number; offset: bigint }>): Promise<void> {
    const topic = this.opts.topic;
    return consumer.commitOffsets(offsets.map((o) => ({ topic, partition: o.partition, offset: o.offset.toString() }))).then(() => {
      for (const o of offsets) if (this.assigned.has(o.partition) && o.offset > (this.committed.get(o.partition) ?? -1n)) this.committed.set(o.partition, o.offset);
      this.stats.commits++;
    });
  }

  /** Commits, for every partition held, what the gate allows now (windows scored since the last batch), in one request. */
  private commitHeld(consumer: Consumer): Promise<unknown> {
    return this.serialCommit(async () => {
      const offsets = this.held();
      if (offsets.length === 0) return;
      try {
        await this.commitOffsets(consumer, offsets);
      } catch {
        // a rebalance under way (the new generation commits next) or the broker away: next time
      }
    });
  }

  /**
   * commitHeld without waiting for the commits under way: the request is on its way before kafkajs
   * sends anything for the join that follows a REBALANCING event, so it carries this generation.
   */
  private commitNow(consumer: Consumer): void {
    const offsets = this.held();
    if (offsets.length === 0) return;
    const run = this.commitOffsets(consumer, offsets).catch(() => undefined);
    this.commits = Promise.all([this.commits, run]).catch(() => undefined);
  }

  private serialCommit(work: () => Promise<void>): Promise<unknown> {
    const run = this.commits.then(work, work);
    this.commits = run.catch(() => undefined);
    return run;
  }

  private async batch(payload: EachBatchPayload, handler: (events: readonly CallEvent[], meta: EventBatchMeta) => Promise<void>, onBad?: (error: string) => void): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset, commitOffsetsIfNecessary } = payload;
    const events: CallEvent[] = [];
    let last: string | null = null;
    const messages = batch.messages;
    const gate = this.gate;
    const scored = gate ? this.opts.scoredUntil!(batch.partition) : 0;
    const now = (this.opts.clock ?? Date.now)();
    for (let i = 0; i < messages.length; i++) {
      if (!isRunning() || isStale()) break;
      const message = messages[i]!;
      const value = message.value;
      const decoded = value ? decodeCallEvent(value) : ({ ok: false, error: 'empty message' } as const);
      const fault = decoded.ok ? eventTimeFault(decoded.value.ts, now) : null;
      if (decoded.ok && fault !== null) {
        // skipped here, before the gate: a future window's entry would hold the commit back for good
        this.stats.bad++;
        onBad?.(describeEventTimeFault(fault, decoded.value.ts, now));
      } else if (decoded.ok) {
        events.push(decoded.value);
        if (gate) gate.observe(batch.partition, decoded.value.ts, Number(message.offset), scored);
      } else {
        this.stats.bad++;
        onBad?.(decoded.error);
      }
      last = message.offset;
      if (i % HEARTBEAT_EVERY === HEARTBEAT_EVERY - 1) await heartbeat();
    }
    if (last === null) return;
    // state first …
    if (events.length > 0) await handler(events, { partition: batch.partition, lastOffset: last });
    this.stats.events += events.length;
    this.stats.batches++;
    // … then the offset: the next message to read is last + 1
    resolveOffset(last);
    if (gate) {
      // held back to the oldest window not scored yet
      const p = batch.partition;
      gate.handled(p, Number(last) + 1);
      await this.serialCommit(async () => {
        const next = BigInt(gate.committable(p, this.opts.scoredUntil!(p)) ?? Number(last) + 1);
        if (next <= (this.committed.get(p) ?? -1n)) return;
        await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: p, offset: next.toString() }] }] });
        this.committed.set(p, next);
        this.stats.commits++;
      });
    } else {
      await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
      this.stats.commits++;
    }
    const highWatermark = BigInt(batch.highWatermark);
    const behind = highWatermark - (BigInt(last) + 1n);
    this.lag.set(batch.partition, Number(behind > 0n ? behind : 0n));
    this.opts.onLag?.(this.totalLag);
    await heartbeat();
  }

  async stop(): Promise<void> {
    if (this.commitTimer) clearInterval(this.commitTimer);
    this.commitTimer = null;
    const consumer = this.consumer;
    this.consumer = null;
    // what was scored since the last commit, so the next owner does not read those windows again
    // (a batch under way commits its own offset as it ends, within consumer.stop())
    if (consumer && this.gate) await this.commitHeld(consumer);
    await this.commits.catch(() => undefined);
    if (consumer) {
      await consumer.stop().catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
    }
    this.stopped?.();
    this.stopped = null;
    this.failed = null;
  }
}
