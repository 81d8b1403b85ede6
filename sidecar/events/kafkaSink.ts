/**
 * Call events to Kafka without ever making a request wait on Kafka. `publish` encodes the event
 * and puts it in a bounded ring buffer — that is all the request path does. A background pump sends
 * batches (up to `batchSize` messages, or whatever is there after `lingerMs`), gzip-compressed and
 * keyed by the client key so one client's events stay in order on one partition.
 *
 * When Kafka is down or slow, sends fail or take long: the buffer fills, the oldest events are
 * dropped and counted (`events_dropped_total`), and a failed batch goes back to the front of the
 * buffer to be retried with exponential backoff (100 ms … 5 s). The bound is the buffer capacity
 * plus the one batch in flight. `flush`/`close` deliver what they can within a time bound; whatever
 * is still buffered then is counted as dropped.
 */
import { CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { CallEvent } from '../../models/events.js';
import type { EventSink } from '../../models/eventBus.js';
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

const MAX_LINGER_MS = 50;

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
    return this.ring.size;
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
    const dropped = this.ring.push({ key: event.client, value: encodeCallEventFast(event) });
    if (dropped !== undefined) this.drop(1);
    // the gauge follows each batch (pump); in between, every 256 events is close enough
    if ((this.published & 255) === 0) this.metrics?.eventsBuffered.set(this.ring.size);
    this.schedule();
  }

  private drop(n: number): void {
    this.dropped += n;
    this.metrics?.eventsDropped.inc(n);
  }

  private schedule(): void {
    if (this.current !== null || this.ring.size === 0) return;
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
    if (this.current !== null || this.ring.size === 0) return;
    this.current = this.sendOne().finally(() => {
      this.current = null;
      this.metrics?.eventsBuffered.set(this.ring.size);
      if (!this.closed || this.ring.size > 0) this.schedule();
    });
  };

  private async sendOne(): Promise<void> {
    const batch = this.ring.shift(this.batchLimit);
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
      if (this.failures > 0) this.logger?.info({ buffered: this.ring.size, dropped: this.dropped }, 'event delivery recovered');
      this.failures = 0;
      this.backoffUntil = 0;
    } catch (err) {
      if (this.abandoned) return;
      this.failures++;
      this.connected = false; // reconnect before the next attempt (kafkajs producers do not always recover alone)
      this.metrics?.eventsSendErrors.inc();
      // a partial failure names what was not acknowledged: only that is retried (no duplicates)
      const partial = err as { failed?: readonly EncodedEvent[]; rejected?: readonly EncodedEvent[]; tooLarge?: boolean };
      const failed = partial.failed ?? batch;
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
      const lost = this.ring.unshift(failed);
      if (lost > 0) this.drop(lost);
      const backoff = Math.min(this.maxBackoffMs, 100 * 2 ** Math.min(this.failures - 1, 10));
      this.backoffUntil = Date.now() + backoff;
      // one line when delivery starts failing, then one per ~32 failures: never a log storm
      if (this.failures === 1 || this.failures % 32 === 0) {
        this.logger?.warn({ err: (err as Error).message, failures: this.failures, buffered: this.ring.size, dropped: this.dropped }, 'event delivery failing; buffering');
      }
    } finally {
      this.inFlight = null;
    }
  }

  /** Delivers what is buffered, within `timeoutMs` (best effort). */
  async flush(timeoutMs = this.flushTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.ring.size > 0 || this.current !== null) && Date.now() < deadline) {
      if (this.current === null) {
        // at shutdown a backoff is shortened, not skipped: Kafka that is down stays down for a while
        if (this.backoffUntil > Date.now()) await sleep(Math.min(this.backoffUntil - Date.now(), deadline - Date.now(), 250));
        else this.pump();
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
          throw messages.length > 1 ? new PartialSendError((err as Error).message, messages, [], true) : new PartialSendError((err as Error).message, [], messages);
        }
        if (type === 'CORRUPT_MESSAGE' || type === 'INVALID_RECORD') throw new PartialSendError((err as Error).message, [], messages);
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
