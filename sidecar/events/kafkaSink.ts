/**
 * Call events to Kafka without ever making a request wait on Kafka. `publish` encodes the event
 * and puts it in a bounded ring buffer — that is all the request path does. A background pump sends
 * batches (up to `batchSize` messages, or whatever is there after `lingerMs`), gzip-compressed and
 * keyed by the client key so one client's events stay in order on one partition.
 *
 * When Kafka is down or slow, sends fail or take long: the buffer fills, the oldest events are
 * dropped and counted (`events_dropped_total`), and a failed batch goes back to the front of the
 * buffer to be retried with exponential backoff (100 ms … 5 s). The bound is the buffer capacity
 * plus the one batch in flight. When only some partitions fail (one without a leader), their events
 * — and the later events of the same clients, to keep each client's order — are parked on a backoff
 * of their own, inside the same bound, while the other partitions' events keep flowing. `flush`/`close` deliver what they can within a time bound; whatever
 * is still buffered then is counted as dropped.
 */
import { CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { CallEvent } from '../../models/events.js';
import type { EventSink } from '../../models/eventBus.js';
import { flatString } from '../../models/clientKey.js';
import { POLICY_BOUNDS } from '../../models/policy/schema.js';
import type { Logger } from '../log.js';
import type { SidecarMetrics } from '../metrics.js';
import { RingBuffer } from './ringBuffer.js';
import { encodeCallEventFast } from './callEvent.js';
import { PartialSendError } from './leanProducer.js';

export interface EncodedEvent {
  readonly key: string;
  readonly value: string;
}

/** The part of a Kafka producer the sink uses (kafkajs adapter below; tests may pass another). */
export interface EventProducer {
  connect(): Promise<void>;
  send(messages: readonly EncodedEvent[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface KafkaEventSinkOptions {
  readonly producer: EventProducer;
  /** Bounded buffer (policy `events.bufferSize`, default 100k). */
  readonly bufferSize: number;
  /** Longest an event waits for companions before a batch goes (policy `events.linger`, ≤ 50 ms). */
  readonly lingerMs: number;
  readonly batchSize: number;
  readonly metrics?: SidecarMetrics;
  readonly logger?: Logger;
  /** Default bound for flush() and close(). */
  readonly flushTimeoutMs?: number;
  readonly maxBackoffMs?: number;
}

/** The policy refuses a longer `events.linger`; a sink made directly is held to it too. */
const MAX_LINGER_MS = POLICY_BOUNDS.maxEventsLingerMs;

/**
 * The string as one flat copy, for what waits in the buffer. An encoded event is a rope of ~40
 * concatenated pieces (≈ 1.7 KB of heap for 300 bytes of text), and a piece may be a slice that
 * keeps a whole request target alive: the route `/api/v1/items/1` of `/api/v1/items/1?q=<15 KB>`
 * held the 15 KB (16.6 KB an event: 1.6 GB for a full default buffer while Kafka is away). V8
 * flattens a string converted to a number (pino's `flatstr`, kept from the optimiser by flatString);
 * the send flattens it anyway.
 */
const flat = flatString;

export class KafkaEventSink implements EventSink {
  private readonly ring: RingBuffer<EncodedEvent>;
  private readonly producer: EventProducer;
  private readonly lingerMs: number;
  private readonly batchSize: number;
  /** Lowered (halved) while the broker answers that batches are too large, raised again on success. */
  private batchLimit: number;
  private readonly metrics: SidecarMetrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly flushTimeoutMs: number;
  private readonly maxBackoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private current: Promise<void> | null = null;
  private connected = false;
  private failures = 0;
  private backoffUntil = 0;
  private closed = false;
  /** The batch being sent, and whether close() gave up on it (it is then counted as dropped). */
  private inFlight: EncodedEvent[] | null = null;
  private abandoned = false;
  /**
   * Events of partitions that failed while others were acknowledged (one partition without a
   * leader), and the later events of the same clients (kept behind them: a client's events stay in
   * order). Retried on their own backoff, so the healthy partitions' events are neither held to it
   * nor queued behind them. Shares the buffer's bound: ring + parked ≤ bufferSize.
   */
  private parked: RingBuffer<EncodedEvent> | null = null;
  private readonly parkedKeys = new Map<string, number>();
  private parkedFailures = 0;
  private parkedUntil = 0;
  /** Set by flush(): the next send retries parked events without waiting for their backoff. */
  private retryParkedNow = false;
  /** Counters (also exported as metrics), for tests and the shutdown log line. */
  published = 0;
  sent = 0;
  dropped = 0;

  constructor(opts: KafkaEventSinkOptions) {
    this.ring = new RingBuffer(opts.bufferSize);
    this.producer = opts.producer;
    this.lingerMs = Math.max(0, Math.min(opts.lingerMs, MAX_LINGER_MS));
    this.batchSize = Math.max(1, opts.batchSize);
    this.batchLimit = this.batchSize;
    this.metrics = opts.metrics;
    this.logger = opts.logger;
    this.flushTimeoutMs = opts.flushTimeoutMs ?? 5_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5_000;
  }

  get buffered(): number {
    return this.ring.size + this.parkedSize;
  }

  private get parkedSize(): number {
    return this.parked === null ? 0 : this.parked.size;
  }

  /** Connects in the background; events published before (or while Kafka is away) wait in the buffer. */
  start(): void {
    this.schedule();
  }

  publish(event: CallEvent): void {
    if (this.closed) {
      this.drop(1);
      return;
    }
    this.published++;
    const dropped = this.ring.push({ key: flat(event.client), value: flat(encodeCallEventFast(event)) });
    if (dropped !== undefined) this.drop(1);
    else if (this.parked !== null && this.parked.size > 0 && this.ring.size + this.parked.size > this.ring.capacity) this.dropParked(1);
    // the gauge follows each batch (pump); in between, every 256 events is close enough
    if ((this.published & 255) === 0) this.metrics?.eventsBuffered.set(this.buffered);
    this.schedule();
  }

  private drop(n: number): void {
    this.dropped += n;
    this.metrics?.eventsDropped.inc(n);
  }

  /** Drops the `n` oldest parked events (counted), keeping parkedKeys in step. */
  private dropParked(n: number): void {
    const gone = this.parked!.shift(n);
    for (const e of gone) this.unparkKey(e.key);
    this.drop(gone.length);
  }

  private unparkKey(key: string): void {
    const c = this.parkedKeys.get(key)! - 1;
    if (c > 0) this.parkedKeys.set(key, c);
    else this.parkedKeys.delete(key);
  }

  /** Puts events at the back (fresh events of a parked client) or, with `front`, the front (failed again) of the parked queue. */
  private park(events: readonly EncodedEvent[], front: boolean): void {
    if (events.length === 0) return;
    const parked = (this.parked ??= new RingBuffer<EncodedEvent>(this.ring.capacity));
    for (const e of events) this.parkedKeys.set(e.key, (this.parkedKeys.get(e.key) ?? 0) + 1);
    if (front) {
      const lost = parked.unshift(events);
      // what did not fit are the oldest of `events`: they were never stored, so only their keys go
      for (let i = 0; i < lost; i++) this.unparkKey(events[i]!.key);
      if (lost > 0) this.drop(lost);
    } else {
      for (const e of events) {
        const gone = parked.push(e);
        if (gone !== undefined) {
          this.unparkKey(gone.key);
          this.drop(1);
        }
      }
    }
    const over = this.ring.size + parked.size - this.ring.capacity;
    if (over > 0) this.dropParked(over);
  }

  private schedule(): void {
    if (this.current !== null) return;
    if (this.ring.size === 0) {
      // only parked events: their own backoff
      if (this.parkedSize > 0 && this.timer === null) this.timer = setTimeout(this.pump, Math.max(0, this.parkedUntil - Date.now(), this.backoffUntil - Date.now()));
      return;
    }
    const wait = this.backoffUntil - Date.now();
    if (wait > 0) {
      if (this.timer === null) this.timer = setTimeout(this.pump, wait);
      return;
    }
    if (this.ring.size >= this.batchSize) {
      if (this.immediate === null) this.immediate = setImmediate(this.pump);
    } else if (this.timer === null) {
      this.timer = setTimeout(this.pump, this.lingerMs);
    }
  }

  private readonly pump = (): void => {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    if (this.current !== null || (this.ring.size === 0 && this.parkedSize === 0)) return;
    this.current = this.sendOne().finally(() => {
      this.current = null;
      this.metrics?.eventsBuffered.set(this.buffered);
      if (!this.closed) this.schedule();
    });
  };

  private async sendOne(): Promise<void> {
    let batch: EncodedEvent[];
    let retried = 0;
    if (this.parked === null || this.parked.size === 0) batch = this.ring.shift(this.batchLimit);
    else {
      // parked events first when their backoff is over (they are the oldest), then fresh ones
      let retry: EncodedEvent[] = [];
      if (this.retryParkedNow || Date.now() >= this.parkedUntil) {
        retry = this.parked.shift(this.batchLimit);
        for (const e of retry) this.unparkKey(e.key);
      }
      this.retryParkedNow = false;
      batch = this.ring.shift(this.batchLimit - retry.length);
      // a client with events still parked: its new ones wait behind them (a client's events stay in order)
      let fresh: EncodedEvent[] | null = null;
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i]!;
        if (this.parkedKeys.has(e.key)) {
          fresh ??= batch.slice(0, i);
          this.park([e], false);
        } else if (fresh !== null) fresh.push(e);
      }
      if (fresh !== null) batch = fresh;
      retried = retry.length;
      if (retried > 0) batch = retry.concat(batch);
      if (batch.length === 0) return;
    }
    this.inFlight = batch;
    try {
      if (!this.connected) {
        await this.producer.connect();
        this.connected = true;
      }
      await this.producer.send(batch);
      if (this.abandoned) return;
      this.sent += batch.length;
      this.metrics?.eventsSent.inc(batch.length);
      if (this.batchLimit < this.batchSize) this.batchLimit = Math.min(this.batchSize, this.batchLimit * 2);
      if (this.failures > 0 || (retried > 0 && this.parkedFailures > 0)) this.logger?.info({ buffered: this.buffered, dropped: this.dropped }, 'event delivery recovered');
      this.failures = 0;
      this.backoffUntil = 0;
      if (retried > 0) {
        this.parkedFailures = 0;
        this.parkedUntil = 0;
      }
    } catch (err) {
      if (this.abandoned) return;
      this.metrics?.eventsSendErrors.inc();
      // a partial failure names what was not acknowledged: only that is retried (no duplicates)
      const partial = err as { failed?: readonly EncodedEvent[]; rejected?: readonly EncodedEvent[]; tooLarge?: boolean; sizeOnly?: boolean };
      const failed = partial.failed ?? batch;
      // the broker answered and only batch sizes failed (or nothing is left to retry): Kafka is up
      const sizeOnly = partial.sizeOnly === true || (partial.failed !== undefined && failed.length === 0);
      if (!sizeOnly) this.connected = false; // reconnect before the next attempt (kafkajs producers do not always recover alone)
      // refused for good (an event too large on its own, a corrupt record): retrying would stall its
      // partition for ever, so they are dropped and counted
      const rejected = partial.rejected?.length ?? 0;
      if (rejected > 0) {
        this.drop(rejected);
        this.logger?.warn({ err: (err as Error).message, rejected }, 'events refused by Kafka for good; dropped');
      }
      if (partial.tooLarge === true) this.batchLimit = Math.max(1, Math.floor(Math.min(this.batchLimit, failed.length) / 2));
      const delivered = batch.length - failed.length - rejected;
      if (delivered > 0) {
        this.sent += delivered;
        this.metrics?.eventsSent.inc(delivered);
      }
      // Kafka answered for some partitions (some delivered, or only parked events were sent): the
      // failed partitions' events are parked on their own backoff, and the rest keep flowing
      const partialOutage = delivered > 0 || (retried > 0 && retried === batch.length);
      if (sizeOnly) {
        // no outage to wait out: what failed goes again at once, in the smaller batches set above (a
        // backoff here, 100 ms … 5 s per halving, starved a healthy broker: batches that outgrow the
        // topic's limit after every success paid it each time, and the buffer overflowed)
        this.backoffUntil = 0;
        if (this.parkedSize > 0) this.park(failed, true);
        else {
          const lost = this.ring.unshift(failed);
          if (lost > 0) this.drop(lost);
        }
        return;
      }
      if (partialOutage) {
        this.failures = 0;
        this.backoffUntil = 0;
        this.parkedFailures++;
        this.parkedUntil = Date.now() + this.backoff(this.parkedFailures);
        this.park(failed, true);
      } else {
        this.failures++;
        this.backoffUntil = Date.now() + this.backoff(this.failures);
        // behind parked events of the same clients if there are any (a client's events stay in order)
        if (this.parkedSize > 0) this.park(failed, true);
        else {
          const lost = this.ring.unshift(failed);
          if (lost > 0) this.drop(lost);
        }
      }
      // one line when delivery starts failing, then one per ~32 failures: never a log storm
      const n = partialOutage ? this.parkedFailures : this.failures;
      if (n === 1 || n % 32 === 0) {
        this.logger?.warn({ err: (err as Error).message, failures: n, partial: partialOutage, buffered: this.buffered, dropped: this.dropped }, 'event delivery failing; buffering');
      }
    } finally {
      this.inFlight = null;
    }
  }

  private backoff(failures: number): number {
    return Math.min(this.maxBackoffMs, 100 * 2 ** Math.min(failures - 1, 10));
  }

  /** Delivers what is buffered, within `timeoutMs` (best effort). */
  async flush(timeoutMs = this.flushTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.buffered > 0 || this.current !== null) && Date.now() < deadline) {
      if (this.current === null) {
        // at shutdown a backoff is shortened, not skipped: Kafka that is down stays down for a while,
        // but a backoff of seconds (up to maxBackoffMs) must not eat the whole flush window while a
        // broker that came back waits: at most 250 ms between attempts here
        const due = this.ring.size > 0 ? this.backoffUntil : Math.max(this.backoffUntil, this.parkedUntil);
        const wait = Math.min(due - Date.now(), deadline - Date.now(), 250);
        if (wait > 0) await sleep(wait);
        if (this.current === null && Date.now() < deadline) {
          this.retryParkedNow = true;
          this.pump();
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await (this.current !== null ? within(this.current, left) : sleep(Math.min(10, left)));
    }
  }

  async close(timeoutMs = this.flushTimeoutMs): Promise<void> {
    if (this.closed) return;
    const started = Date.now();
    await this.flush(timeoutMs);
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    let left = this.ring.size;
    if (left > 0) {
      this.ring.shift(left);
      this.drop(left);
    }
    if (this.parkedSize > 0) {
      left += this.parkedSize;
      this.dropParked(this.parkedSize);
    }
    if (this.inFlight !== null) {
      // a send still hanging at the deadline: counted as not delivered (at-most-once accounting)
      this.abandoned = true;
      left += this.inFlight.length;
      this.drop(this.inFlight.length);
    }
    this.metrics?.eventsBuffered.set(0);
    if (left > 0) this.logger?.warn({ undelivered: left }, 'events not delivered at shutdown');
    const remaining = Math.max(500, timeoutMs - (Date.now() - started));
    await within(this.producer.disconnect().catch(() => undefined), remaining);
  }
}

/** `p`, or `ms` if that comes first; the timer is cleared either way (it must not hold the process up after close). */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))]).then(
    () => clearTimeout(timer),
    () => clearTimeout(timer),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** kafkajs producer behind EventProducer: gzip (or none), acks from all in-sync replicas (used when SASL is configured). */
export function kafkajsProducer(kafka: Kafka, topic: string, compression: 'gzip' | 'none'): EventProducer {
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 } });
  const codec = compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  return {
    connect: () => producer.connect(),
    async send(messages) {
      try {
        await producer.send({ topic, compression: codec, messages: messages as EncodedEvent[] });
      } catch (err) {
        // too large: smaller batches next time, or — one event alone — refused for good
        const type = (err as { type?: string }).type ?? (err as { cause?: { type?: string } }).cause?.type;
        if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') {
          throw messages.length > 1 ? new PartialSendError((err as Error).message, messages, [], true, true) : new PartialSendError((err as Error).message, [], messages, false, true);
        }
        if (type === 'CORRUPT_MESSAGE' || type === 'INVALID_RECORD') throw new PartialSendError((err as Error).message, [], messages, false, true);
        throw err;
      }
    },
    disconnect: () => producer.disconnect(),
  };
}

/** Events disabled (no KAFKA_BROKERS and nothing injected): counted nowhere, kept nowhere. */
export class NullEventSink implements EventSink {
  publish(_event: CallEvent): void {}
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * An injected sink (the demo's in-process bus, an embedding program's own) under the sidecar's
 * event metrics: every event handed over counts in `events_sent_total`; when the sink keeps a
 * `dropped` count (MemoryEventBus drops its oldest event when full), its growth is added to
 * `events_dropped_total`, and its `buffered` size is the `events_buffered` gauge (every 256 events).
 */
export class MeteredEventSink implements EventSink {
  private seenDropped = 0;
  private published = 0;

  constructor(
    private readonly inner: EventSink & { readonly dropped?: number; readonly buffered?: number },
    private readonly metrics: Pick<SidecarMetrics, 'eventsSent' | 'eventsDropped' | 'eventsBuffered'>,
  ) {}

  publish(event: CallEvent): void {
    this.inner.publish(event);
    this.metrics.eventsSent.inc();
    const dropped = this.inner.dropped;
    if (typeof dropped === 'number' && dropped > this.seenDropped) {
      this.metrics.eventsDropped.inc(dropped - this.seenDropped);
      this.seenDropped = dropped;
    }
    if ((++this.published & 255) === 0 && typeof this.inner.buffered === 'number') this.metrics.eventsBuffered.set(this.inner.buffered);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
