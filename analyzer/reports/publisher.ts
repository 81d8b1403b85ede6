/**
 * Reports leave the analyzer on Kafka topic `ratewarden.anomalies` (key: client, value: the report
 * JSON), once when detected and again after every change. Publishing never blocks detection: a
 * bounded queue (oldest dropped and counted) is sent in batches in the background. A failed send
 * keeps the batch queued and is retried by itself, with backoff (RETRY_BASE_MS doubling up to
 * RETRY_MAX_MS), so reports reach the topic once the broker is back even if no new report comes.
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

export interface KafkaReportPublisherOptions {
  readonly topic?: string;
  readonly maxQueue?: number;
  readonly lingerMs?: number;
  readonly onError?: (err: Error) => void;
}

export class KafkaReportPublisher implements ReportPublisher {
  private readonly producer: Producer;
  private queue: Array<{ key: string; value: string }> = [];
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
    this.queue.push({ key: report.client, value: encodeAnomalyReport(report) });
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
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.sending = (async () => {
      try {
        this.connected ??= this.producer.connect();
        await this.connected;
        await this.producer.send({ topic: this.topic, messages: batch });
        this.stats.published += batch.length;
        this.failures = 0;
      } catch (err) {
        this.stats.errors++;
        this.failures++;
        this.connected = null;
        // put the batch back in front (bounded, what falls off is counted): reports are retried, never lost silently
        const requeued = [...batch, ...this.queue];
        this.stats.dropped += Math.max(0, requeued.length - this.maxQueue);
        this.queue = requeued.slice(-this.maxQueue);
        this.opts.onError?.(err as Error);
        this.schedule(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(this.failures - 1, 20)));
      }
    })();
    try {
      await this.sending;
    } finally {
      this.sending = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
  }
}
