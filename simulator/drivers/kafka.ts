/**
 * CallEvents straight into a Kafka topic at a chosen rate — as many sidecars would produce them,
 * without HTTP in the way — to load the analyzer beyond what HTTP on a small machine can generate.
 *
 * Messages are keyed by the client key and valued with the CallEvent JSON (DESIGN.md "Kafka"),
 * sent in batches (gzip optional) with a few batches in flight, paced so the running total never
 * gets ahead of rate × elapsed time. Bounded in time: it stops at `durationMs` (or `maxEvents`, or
 * when the events end) and reports the rate it actually achieved.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { encodeCallEvent, type CallEvent } from '../../models/events.js';

export interface DriveKafkaOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  /** Events in time order (e.g. `simulation.events()`); pulled lazily. */
  readonly events: Iterable<CallEvent> | Iterator<CallEvent>;
  /** Target events per second. */
  readonly ratePerSec: number;
  /** Hard bound on the run, ms. */
  readonly durationMs: number;
  /** Stop after this many events (default: no limit). */
  readonly maxEvents?: number;
  /** Events per produce request (default 500). */
  readonly batchSize?: number;
  /** Longest a partial batch waits for more events before it is sent, ms (default 20). */
  readonly lingerMs?: number;
  /** Produce requests outstanding at once (default 4; 1 keeps per-partition order even across retries). */
  readonly maxInFlightBatches?: number;
  readonly compression?: 'gzip' | 'none';
  /**
   * `wall` (default): each event's ts is replaced by the time it is sent, so a consumer sees live
   * traffic at the chosen rate (simulated time compressed or stretched to fit); `source`: keep the
   * simulated timestamps.
   */
  readonly timestamps?: 'wall' | 'source';
  /** acks: -1 (all in-sync replicas, default) or 1 (leader only). */
  readonly acks?: -1 | 1;
  /** An already connected producer to use (it is not disconnected); default: one made and closed here. */
  readonly producer?: Producer;
  readonly now?: () => number;
}

export interface KafkaRunStats {
  readonly sent: number;
  readonly batches: number;
  readonly failedBatches: number;
  /** Events of failed batches (not retried beyond kafkajs's own retries). */
  readonly failedEvents: number;
  readonly elapsedMs: number;
  readonly achievedRatePerSec: number;
  readonly lastError: string | null;
}

export interface KafkaDriver {
  readonly done: Promise<KafkaRunStats>;
  stop(): Promise<KafkaRunStats>;
  stats(): KafkaRunStats;
}

export function driveKafka(options: DriveKafkaOptions): KafkaDriver {
  if (!(options.ratePerSec > 0)) throw new RangeError('ratePerSec must be > 0');
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const maxInFlight = Math.max(1, options.maxInFlightBatches ?? 4);
  const lingerMs = options.lingerMs ?? 20;
  const compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  const wall = (options.timestamps ?? 'wall') === 'wall';
  const now = options.now ?? Date.now;
  const source: Iterator<CallEvent> = Symbol.iterator in options.events ? (options.events as Iterable<CallEvent>)[Symbol.iterator]() : (options.events as Iterator<CallEvent>);
  const maxEvents = options.maxEvents ?? Infinity;

  let stopped = false;
  let sent = 0;
  let taken = 0;
  let batches = 0;
  let failedBatches = 0;
  let failedEvents = 0;
  let lastError: string | null = null;
  let inFlight = 0;
  const started = performance.now();
  let finishedMs: number | null = null;

  const snapshot = (): KafkaRunStats => {
    const elapsedMs = (finishedMs ?? performance.now()) - started;
    return {
      sent,
      batches,
      failedBatches,
      failedEvents,
      elapsedMs: Math.round(elapsedMs),
      achievedRatePerSec: elapsedMs > 0 ? Math.round((sent / elapsedMs) * 10_000) / 10 : 0,
      lastError,
    };
  };

  const done = (async () => {
    const producer = options.producer ?? options.kafka.producer();
    if (!options.producer) await producer.connect();
    const pending = new Set<Promise<void>>();
    try {
      let exhausted = false;
      let lastSendAt = started;
      let lastTs = 0;
      while (!stopped && !exhausted && taken < maxEvents) {
        const clock = performance.now();
        const elapsed = clock - started;
        if (elapsed >= options.durationMs) break;
        if (inFlight >= maxInFlight) {
          await Promise.race(pending);
          continue;
        }
        // the running total may not get ahead of rate × elapsed; a batch goes when full or lingered
        const due = Math.min(maxEvents, Math.floor((options.ratePerSec * elapsed) / 1000)) - taken;
        if (due <= 0 || (due < batchSize && clock - lastSendAt < lingerMs)) {
          const wait = due <= 0 ? ((taken + 1) * 1000) / options.ratePerSec - elapsed : lingerMs - (clock - lastSendAt);
          await sleep(Math.max(1, Math.min(20, wait)));
          continue;
        }
        lastSendAt = clock;
        const size = Math.min(batchSize, due);
        const messages: Message[] = [];
        const wallNow = wall ? now() : 0;
        for (let i = 0; i < size; i++) {
          const next = source.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          let event = next.value;
          if (wall) {
            // spread the batch over the interval it stands for, keeping ts non-decreasing
            lastTs = Math.max(lastTs, Math.round(wallNow - ((size - 1 - i) * 1000) / options.ratePerSec));
            event = { ...event, ts: lastTs };
          }
          messages.push({ key: event.client, value: encodeCallEvent(event) });
        }
        if (messages.length === 0) break;
        taken += messages.length;
        inFlight++;
        const p: Promise<void> = producer
          .send({ topic: options.topic, messages, compression, acks: options.acks ?? -1 })
          .then(
            () => {
              sent += messages.length;
              batches++;
            },
            (err: Error) => {
              failedBatches++;
              failedEvents += messages.length;
              lastError = err.message;
            },
          )
          .finally(() => {
            inFlight--;
            pending.delete(p);
          });
        pending.add(p);
      }
      await Promise.all(pending);
    } finally {
      finishedMs = performance.now();
      if (!options.producer) await producer.disconnect().catch(() => undefined);
    }
    return snapshot();
  })();

  return {
    done,
    stats: snapshot,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
