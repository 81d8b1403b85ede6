/**
 * A small Kafka producer for one topic, built for the sidecar's one job: ship batches of small
 * JSON events, keyed, compressed, acknowledged by all in-sync replicas. It speaks ApiVersions,
 * Metadata v4 and Produce v3 over plain TCP or TLS (kafkaWire.ts), keeps one connection per
 * partition leader, and partitions keys exactly as the Java client does (murmur2), so a client's
 * events stay in order on one partition.
 *
 * Why not kafkajs on this path: kafkajs spends ~15–20 µs of CPU per message (encoder objects,
 * 64-bit emulation, per-message partitioner work), which at proxy rates is a large share of the
 * whole request; this producer spends about 1 µs (bench/sidecar). kafkajs is still used where
 * SASL is configured (see createEventProducer) and by the analyzer for consuming.
 *
 * Failure handling is the sink's (kafkaSink.ts): a failed send throws, with `failed` listing only
 * the messages of partitions that did not succeed, so a retry never duplicates the others.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { gzipSync } from 'node:zlib';
import {
  API_METADATA,
  API_PRODUCE,
  CODEC_GZIP,
  CODEC_NONE,
  METADATA_VERSION,
  PRODUCE_VERSION,
  REFRESH_METADATA_ERRORS,
  apiVersionsRequest,
  decodeApiVersions,
  decodeMetadata,
  decodeProduce,
  encodeRecordBatch,
  encodeRecords,
  metadataRequest,
  partitionForKey,
  produceRequest,
  type BrokerAddress,
  type PartitionBatch,
} from './kafkaWire.js';
import type { EncodedEvent, EventProducer } from './kafkaSink.js';

/**
 * Compression runs synchronously: a batch of ~150 events takes ~40 µs of CPU this way, against
 * ~160–230 µs through zlib's thread pool (the hand-off costs more than the work), and it has to run
 * on this core either way. Level 1 with zlib's default window and memory: measured faster per event
 * than a small window (0.25 against 0.40 µs at 160 events of ~270 bytes) and ~25% smaller output;
 * the ~256 KiB of state lives only during the call.
 */
const GZIP_OPTIONS = { level: 1 };

export interface LeanProducerOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly clientId: string;
  readonly compression: 'gzip' | 'none';
  /** TLS options when the brokers speak TLS, else null. */
  readonly tls?: ConnectionOptions | null;
  readonly acks?: number;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /**
   * The topic's layout is read again after this long even when nothing failed (the Java client's
   * metadata.max.age.ms, 5 min): partitions added to the topic get their share of the clients, as
   * with the Java client (a client moved to a new partition is reordered once, across the move).
   */
  readonly metadataMaxAgeMs?: number;
}

/** Thrown by send(): the messages that were not acknowledged (the others were). */
export class PartialSendError extends Error {
  constructor(
    message: string,
    /** Not acknowledged, worth a retry. */
    readonly failed: readonly EncodedEvent[],
    /** Refused for good (a single event too large, a corrupt record): a retry cannot succeed. */
    readonly rejected: readonly EncodedEvent[] = [],
    /** The broker found a batch too large: retry in smaller batches. */
    readonly tooLarge = false,
    /**
     * The broker answered, and every failed event failed only for its batch's size: no outage, so
     * what failed is retried at once (smaller), not after a backoff.
     */
    readonly sizeOnly = false,
  ) {
    super(message);
    this.name = 'PartialSendError';
  }
}

/** Produce errors a retry of the same records cannot fix (CORRUPT_MESSAGE, INVALID_RECORD). */
const REFUSED_FOR_GOOD = new Set([2, 87]);
/** MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE: fixed by smaller batches, unless the batch is one event. */
const TOO_LARGE = new Set([10, 18]);

interface Pending {
  resolve(body: Buffer): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One TCP/TLS connection to one broker, with request/response correlation. */
class BrokerConnection {
  private socket: Socket | null = null;
  private readonly pending = new Map<number, Pending>();
  private chunks: Buffer[] = [];
  private buffered = 0;
  private nextId = 1;
  dead = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly opts: { clientId: string; tls: ConnectionOptions | null; requestTimeoutMs: number; connectTimeoutMs: number },
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = this.opts.tls ? tlsConnect({ host: this.host, port: this.port, servername: this.host, ...this.opts.tls }) : netConnect({ host: this.host, port: this.port });
      this.socket = socket;
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to Kafka ${this.host}:${this.port} timed out`));
      }, this.opts.connectTimeoutMs);
      socket.once(this.opts.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('data', (d: Buffer) => this.onData(d));
      socket.on('error', (err) => {
        clearTimeout(timer);
        this.fail(err);
        reject(err);
      });
      socket.on('close', () => this.fail(new Error(`Kafka connection to ${this.host}:${this.port} closed`)));
    });
  }

  get correlationId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    return id;
  }

  /** Sends a framed request and resolves with the response body (after the correlation id). */
  request(frame: Buffer): Promise<Buffer> {
    const id = frame.readInt32BE(8);
    return new Promise((resolve, reject) => {
      if (this.dead || !this.socket) return reject(new Error(`Kafka connection to ${this.host}:${this.port} is closed`));
      const timer = setTimeout(() => {
        // the stream's state is unknown past a timeout: drop the connection, fail everything on it
        this.fail(new Error(`Kafka request to ${this.host}:${this.port} timed out after ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(frame);
    });
  }

  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    for (;;) {
      if (this.buffered < 4) return;
      let head = this.chunks[0]!;
      if (head.length < 4) {
        head = Buffer.concat(this.chunks, this.buffered);
        this.chunks = [head];
      }
      const size = head.readInt32BE(0);
      if (this.buffered < 4 + size) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.buffered);
      const frame = all.subarray(4, 4 + size);
      const rest = all.subarray(4 + size);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      const id = frame.readInt32BE(0);
      const p = this.pending.get(id);
      if (p) {
        this.pending.delete(id);
        clearTimeout(p.timer);
        p.resolve(frame.subarray(4));
      }
    }
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.socket?.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  close(): void {
    this.fail(new Error('closed'));
  }
}

interface TopicLayout {
  readonly partitions: number;
  /** partition → leader node id (-1: none right now). */
  readonly leaders: Int32Array;
  readonly brokers: ReadonlyMap<number, BrokerAddress>;
}

export class LeanKafkaProducer implements EventProducer {
  private readonly bootstrap: Array<{ host: string; port: number }>;
  private readonly conns = new Map<string, BrokerConnection>();
  private layout: TopicLayout | null = null;
  /** When the layout was read, and a background re-read under way (metadataMaxAgeMs). */
  private layoutAt = 0;
  private rereading: Promise<unknown> | null = null;
  private readonly keyPartition = new Map<string, number>();
  private readonly acks: number;
  private readonly connOpts: { clientId: string; tls: ConnectionOptions | null; requestTimeoutMs: number; connectTimeoutMs: number };
  private checkedVersions = false;

  constructor(private readonly opts: LeanProducerOptions) {
    this.bootstrap = opts.brokers.map((b) => {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(b.trim());
      if (!m) throw new Error(`bad broker address "${b}"`);
      return { host: m[1]!, port: Number(m[2]) };
    });
    this.acks = opts.acks ?? -1;
    this.connOpts = { clientId: opts.clientId, tls: opts.tls ?? null, requestTimeoutMs: opts.requestTimeoutMs ?? 10_000, connectTimeoutMs: opts.connectTimeoutMs ?? 3_000 };
  }

  async connect(): Promise<void> {
    await this.refreshMetadata();
  }

  private async connection(host: string, port: number): Promise<BrokerConnection> {
    const id = `${host}:${port}`;
    const existing = this.conns.get(id);
    if (existing && !existing.dead) return existing;
    const conn = new BrokerConnection(host, port, this.connOpts);
    this.conns.set(id, conn);
    try {
      await conn.connect();
    } catch (err) {
      if (this.conns.get(id) === conn) this.conns.delete(id);
      throw err;
    }
    return conn;
  }

  private async anyBootstrap(): Promise<BrokerConnection> {
    let last: Error | null = null;
    for (const b of this.bootstrap) {
      try {
        return await this.connection(b.host, b.port);
      } catch (err) {
        last = err as Error;
      }
    }
    throw last ?? new Error('no Kafka brokers configured');
  }

  private async refreshMetadata(): Promise<TopicLayout> {
    const conn = await this.anyBootstrap();
    if (!this.checkedVersions) {
      const { errorCode, versions } = decodeApiVersions(await conn.request(apiVersionsRequest(conn.correlationId, this.opts.clientId)));
      if (errorCode !== 0) throw new Error(`Kafka ApiVersions failed with error ${errorCode}`);
      for (const [api, v, name] of [
        [API_PRODUCE, PRODUCE_VERSION, 'Produce'],
        [API_METADATA, METADATA_VERSION, 'Metadata'],
      ] as const) {
        const range = versions.find((x) => x.apiKey === api);
        if (!range || v < range.min || v > range.max) throw new Error(`the Kafka broker does not support ${name} v${v} (supports ${range ? `${range.min}-${range.max}` : 'none'})`);
      }
      this.checkedVersions = true;
    }
    const md = decodeMetadata(await conn.request(metadataRequest(conn.correlationId, this.opts.clientId, [this.opts.topic])));
    const topic = md.topics.find((t) => t.name === this.opts.topic);
    if (!topic || topic.errorCode !== 0 || topic.partitions.length === 0) {
      // LEADER_NOT_AVAILABLE while an auto-created topic is being set up: retried by the sink
      throw new Error(`Kafka topic ${this.opts.topic} is not available yet (error ${topic?.errorCode ?? 'missing'})`);
    }
    const leaders = new Int32Array(topic.partitions.length).fill(-1);
    for (const p of topic.partitions) if (p.partition < leaders.length) leaders[p.partition] = p.errorCode === 0 || p.leader >= 0 ? p.leader : -1;
    const layout: TopicLayout = { partitions: topic.partitions.length, leaders, brokers: new Map(md.brokers.map((b) => [b.nodeId, b])) };
    if (this.layout === null || this.layout.partitions !== layout.partitions) this.keyPartition.clear();
    this.layout = layout;
    this.layoutAt = Date.now();
    return layout;
  }

  private partitionOf(key: string, partitions: number): number {
    let p = this.keyPartition.get(key);
    if (p === undefined) {
      p = partitionForKey(key, partitions);
      if (this.keyPartition.size >= 50_000) this.keyPartition.clear(); // bounded: keys are clients
      this.keyPartition.set(key, p);
    }
    return p;
  }

  async send(messages: readonly EncodedEvent[]): Promise<void> {
    const layout = this.layout ?? (await this.refreshMetadata());
    if (this.rereading === null && Date.now() - this.layoutAt >= (this.opts.metadataMaxAgeMs ?? 300_000)) {
      // read again in the background: this batch goes by the layout it has (a failed read is tried
      // again one max age later; a failed send reads it at once anyway)
      this.layoutAt = Date.now();
      this.rereading = this.refreshMetadata()
        .catch(() => undefined)
        .finally(() => {
          this.rereading = null;
        });
    }
    // group by partition, then by leader
    const byPartition = new Map<number, EncodedEvent[]>();
    for (const m of messages) {
      const p = this.partitionOf(m.key, layout.partitions);
      let list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, (list = []));
      list.push(m);
    }
    const byLeader = new Map<number, number[]>();
    const failed: EncodedEvent[] = [];
    const rejected: EncodedEvent[] = [];
    let tooLarge = false;
    /** A failure other than a batch too large (no leader, an error code, a connection): worth a backoff. */
    let outage = false;
    for (const p of byPartition.keys()) {
      const leader = layout.leaders[p]!;
      if (leader < 0 || !layout.brokers.has(leader)) {
        outage = true;
        failed.push(...byPartition.get(p)!);
        continue;
      }
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, (list = []));
      list.push(p);
    }
    const codec = this.opts.compression === 'gzip' ? CODEC_GZIP : CODEC_NONE;
    const now = Date.now();
    let refresh = failed.length > 0;
    const errors: Error[] = [];
    await Promise.all(
      [...byLeader].map(async ([leader, partitions]) => {
        try {
          const batches: PartitionBatch[] = [];
          for (const p of partitions) {
            const list = byPartition.get(p)!;
            let records = encodeRecords(list);
            if (codec === CODEC_GZIP) records = gzipSync(records, GZIP_OPTIONS);
            batches.push({ partition: p, batch: encodeRecordBatch(records, list.length, codec, now) });
          }
          const broker = layout.brokers.get(leader)!;
          const conn = await this.connection(broker.host, broker.port);
          const results = decodeProduce(await conn.request(produceRequest(conn.correlationId, this.opts.clientId, this.acks, this.brokerTimeoutMs(), this.opts.topic, batches)));
          const settled = new Set<number>();
          for (const r of results) {
            if (r.errorCode === 0) {
              settled.add(r.partition);
              continue;
            }
            if (REFRESH_METADATA_ERRORS.has(r.errorCode)) refresh = true;
            errors.push(new Error(`Kafka produce to ${this.opts.topic}[${r.partition}] failed with error ${r.errorCode}`));
            const list = byPartition.get(r.partition);
            if (list === undefined) continue;
            if (REFUSED_FOR_GOOD.has(r.errorCode) || (TOO_LARGE.has(r.errorCode) && list.length === 1)) {
              rejected.push(...list);
              settled.add(r.partition);
            } else if (TOO_LARGE.has(r.errorCode)) tooLarge = true;
            else outage = true;
          }
          for (const p of partitions) {
            if (settled.has(p)) continue;
            failed.push(...byPartition.get(p)!);
            if (!results.some((r) => r.partition === p)) outage = true; // not answered for
          }
        } catch (err) {
          refresh = true;
          outage = true;
          errors.push(err as Error);
          for (const p of partitions) failed.push(...byPartition.get(p)!);
        }
      }),
    );
    if (failed.length > 0 || rejected.length > 0) {
      if (refresh) this.layout = null;
      throw new PartialSendError(errors[0]?.message ?? `no leader for some partitions of ${this.opts.topic}`, failed, rejected, tooLarge, !outage);
    }
  }

  /**
   * The time the broker may take to replicate, shorter than our own wait for its answer, so a slow
   * replication ends in the broker's own answer (REQUEST_TIMED_OUT) rather than in our cutting the
   * connection and reconnecting.
   */
  private brokerTimeoutMs(): number {
    return Math.max(1_000, Math.floor(this.connOpts.requestTimeoutMs * 0.75));
  }

  async disconnect(): Promise<void> {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }
}
