/**
 * Reports leave the analyzer on Kafka topic `ratewarden.anomalies` (key: client, value: the report
 * JSON), once when detected and again after every change. Publishing never blocks detection: a
 * bounded queue (oldest dropped and counted) is sent in batches in the background. A failed send
 * keeps the batch queued and is retried by itself, with backoff (RETRY_BASE_MS doubling up to
 * RETRY_MAX_MS), so reports reach the topic once the broker is back even if no new report comes.
 * A request carries at most MAX_BATCH_BYTES of reports (the broker refuses a record batch past its
 * message.max.bytes, 1 MiB by default, and a queue held through an outage is far more): a batch the
 * topic still finds too large is retried at once in halves, and a report it refuses alone is dropped
 * and counted (retrying it would hold back every report behind it).
 */
import { EventEmitter } from 'node:events';
import type { Kafka, Producer } from 'kafkajs';
import { encodeAnomalyReport, type AnomalyReport } from '../../models/anomaly.js';
import { ANOMALIES_TOPIC } from '../../models/events.js';

export interface ReportPublisher {
  publish(report: AnomalyReport): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: { readonly published: number; readonly dropped: number; readonly errors: number };
}

/** In-process: emits `report` (the demo's UI and tests listen) and keeps the last `keep`. */
export class MemoryReportPublisher extends EventEmitter implements ReportPublisher {
  readonly recent: AnomalyReport[] = [];
  readonly stats = { published: 0, dropped: 0, errors: 0 };

  constructor(private readonly keep = 1_000) {
    super();
  }

  publish(report: AnomalyReport): void {
    this.stats.published++;
    this.recent.push(report);
    if (this.recent.length > this.keep) this.recent.shift();
    this.emit('report', report);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.removeAllListeners();
  }
}

export const RETRY_BASE_MS = 100;
export const RETRY_MAX_MS = 30_000;
/** Bytes of keys and values one send carries at most (well under the broker's default 1 MiB). */
export const MAX_BATCH_BYTES = 512 * 1024;

type Queued = { key: string; value: string; bytes: number };

/** MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE: the topic refuses the batch for its size (kafkajs may wrap the protocol error). */
function tooLarge(err: unknown): boolean {
  const type = (err as { type?: string }).type ?? (err as { cause?: { type?: string } }).cause?.type;
  return type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE';
}

export interface KafkaReportPublisherOptions {
  readonly topic?: string;
  readonly maxQueue?: number;
  readonly lingerMs?: number;
  readonly onError?: (err: Error) => void;
}

export class KafkaReportPublisher implements ReportPublisher {
  private readonly producer: Producer;
  private queue: Queued[] = [];
  /** Bytes a send may carry: MAX_BATCH_BYTES, halved while the topic finds batches too large. */
  private batchBytes = MAX_BATCH_BYTES;
  private connected: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  /** Failed sends in a row (the retry backoff). */
  private failures = 0;
  private closed = false;
  readonly stats = { published: 0, dropped: 0, errors: 0 };
  readonly topic: string;
  private readonly maxQueue: number;
  private readonly lingerMs: number;

  constructor(
    kafka: Kafka,
    private readonly opts: KafkaReportPublisherOptions = {},
  ) {
    this.producer = kafka.producer({ allowAutoTopicCreation: true });
    this.topic = opts.topic ?? ANOMALIES_TOPIC;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.lingerMs = opts.lingerMs ?? 200;
  }

  publish(report: AnomalyReport): void {
    if (this.queue.length >= this.maxQueue) {
      this.queue.shift();
      this.stats.dropped++;
    }
    const value = encodeAnomalyReport(report);
    this.queue.push({ key: report.client, value, bytes: Buffer.byteLength(report.client) + Buffer.byteLength(value) });
    this.schedule(this.lingerMs);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delayMs);
  }

  async flush(): Promise<void> {
    while (this.sending) await this.sending;
    while (this.queue.length > 0) {
      // the oldest reports, as many as fit in batchBytes (one at least)
      let n = 0;
      for (let bytes = 0; n < this.queue.length && (n === 0 || bytes + this.queue[n]!.bytes <= this.batchBytes); n++) bytes += this.queue[n]!.bytes;
      const batch = this.queue.slice(0, n);
      this.queue = this.queue.slice(n);
      let more = false;
      this.sending = (async () => {
        try {
          this.connected ??= this.producer.connect();
          await this.connected;
          await this.producer.send({ topic: this.topic, messages: batch.map(({ key, value }) => ({ key, value })) });
          this.stats.published += batch.length;
          this.failures = 0;
          this.batchBytes = Math.min(MAX_BATCH_BYTES, this.batchBytes * 2);
          more = true;
        } catch (err) {
          if (tooLarge(err)) {
            // the broker is fine: the batch is too large for the topic. Smaller at once, no backoff;
            // one report alone is refused for good: dropped and counted, the others go on
            if (batch.length === 1) {
              this.stats.dropped++;
              this.opts.onError?.(err as Error);
            } else {
              this.batchBytes = Math.max(1, Math.floor(batch.reduce((b, m) => b + m.bytes, 0) / 2));
              this.requeue(batch);
            }
            more = true;
            return;
          }
          this.stats.errors++;
          this.failures++;
          this.connected = null;
          // put the batch back in front (bounded, what falls off is counted): reports are retried, never lost silently
          this.requeue(batch);
          this.opts.onError?.(err as Error);
          this.schedule(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(this.failures - 1, 20)));
        }
      })();
      try {
        await this.sending;
      } finally {
        this.sending = null;
      }
      if (!more) return;
    }
  }

  private requeue(batch: Queued[]): void {
    const requeued = [...batch, ...this.queue];
    this.stats.dropped += Math.max(0, requeued.length - this.maxQueue);
    this.queue = requeued.slice(-this.maxQueue);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
  }
}
