/**
 * How call events travel from sidecars to the analyzer. In production: Kafka (the sidecar's
 * producer implements EventSink, the analyzer's consumer group implements EventSource). In the
 * single-process demo: MemoryEventBus, which implements both with the same bounded, counted buffer
 * semantics.
 */
import type { CallEvent } from './events.js';

export interface EventSink {
  /**
   * Hands an event over for delivery. Never blocks, never throws, never awaits: a full buffer drops
   * its oldest event and counts the drop.
   */
  publish(event: CallEvent): void;
  /** Delivers what is buffered (best effort, bounded in time). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface EventBatchMeta {
  /** Kafka partition (0 for the in-process bus). */
  readonly partition: number;
  /** Offset of the last event in the batch, as a string (Kafka offsets are 64-bit). */
  readonly lastOffset: string;
}

export interface EventSource {
  /**
   * Runs until stop(): calls `handler` with batches of decoded events in order per partition; offsets
   * are committed only after the handler resolved. Undecodable messages are counted via `onBad` and skipped.
   */
  run(handler: (events: readonly CallEvent[], meta: EventBatchMeta) => Promise<void>, onBad?: (error: string) => void): Promise<void>;
  stop(): Promise<void>;
}

/** The in-process bus of `ratewarden demo`: bounded FIFO, oldest dropped first and counted. */
export class MemoryEventBus implements EventSink, EventSource {
  private queue: CallEvent[] = [];
  private head = 0;
  private offset = 0;
  private stopped = false;
  private wake: (() => void) | null = null;
  dropped = 0;
  published = 0;

  constructor(private readonly capacity = 100_000) {}

  publish(event: CallEvent): void {
    this.published++;
    if (this.queue.length - this.head >= this.capacity) {
      this.head++;
      this.dropped++;
    }
    this.queue.push(event);
    this.wake?.();
  }

  get buffered(): number {
    return this.queue.length - this.head;
  }

  /** The events published and not yet consumed, oldest first (a copy: for inspection, e.g. in tests). */
  pending(): CallEvent[] {
    return this.queue.slice(this.head);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    await this.stop();
  }

  async run(handler: (events: readonly CallEvent[], meta: EventBatchMeta) => Promise<void>): Promise<void> {
    this.stopped = false;
    while (!this.stopped) {
      if (this.buffered === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 200).unref();
        });
        this.wake = null;
        continue;
      }
      const batch = this.queue.slice(this.head, this.head + 5_000);
      this.head += batch.length;
      if (this.head > 50_000) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.offset += batch.length;
      await handler(batch, { partition: 0, lastOffset: String(this.offset - 1) });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
  }
}
