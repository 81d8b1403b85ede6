/**
 * The control plane as both programs use it: the analyzer (and operators) write, sidecars read
 * and listen. Redis is the real one (DESIGN.md keys and channel); the in-memory one exists for the
 * single-process demo, where analyzer and sidecar share it, and speaks the same messages.
 */
import { EventEmitter } from 'node:events';
import type { Redis, Cluster } from 'ioredis';
import {
  checkControlValue,
  controlKeys,
  decodeControlValue,
  hashFor,
  parseOverrideField,
  readControlState,
  writeControl,
  type BlockValue,
  type ControlKeys,
  type ControlKind,
  type ControlRedis,
  type ControlState,
  type LoadValue,
  type OverrideValue,
  type ValueOf,
} from './control.js';

export type Unsequenced<K extends ControlKind> = Omit<ValueOf<K>, 'seq'>;

export interface ControlPlane {
  /** Writes (or with null deletes) a field and announces it; resolves to its seq. */
  write<K extends ControlKind>(kind: K, field: string, value: Unsequenced<K> | null): Promise<number>;
  /** The whole current state. */
  read(): Promise<ControlState>;
  /**
   * Calls `onMessage` with each raw channel message (decode with decodeControlMessage and count the
   * bad ones), and `onResync` after every (re)connect of the subscription — the moment to reload.
   * Resolves once subscribed; the returned function unsubscribes.
   */
  subscribe(onMessage: (raw: string) => void, onResync: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export class RedisControlPlane implements ControlPlane {
  private subscriber: Redis | Cluster | null = null;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly keys: ControlKeys = controlKeys(),
  ) {}

  write<K extends ControlKind>(kind: K, field: string, value: Unsequenced<K> | null): Promise<number> {
    return writeControl(this.redis as unknown as ControlRedis, kind, field, value, this.keys);
  }

  read(): Promise<ControlState> {
    return readControlState(this.redis as unknown as ControlRedis, this.keys);
  }

  async subscribe(onMessage: (raw: string) => void, onResync: () => void): Promise<() => Promise<void>> {
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    const channel = this.keys.channel;
    sub.on('message', (ch: string, message: string) => {
      if (ch === channel) onMessage(message);
    });
    // 'ready' fires on the first connect and on every reconnect; ioredis re-subscribes by itself,
    // just before it emits 'ready'. A PING on the same connection answers after that SUBSCRIBE took
    // effect, so the load that follows cannot miss a write published in between. A Cluster's
    // 'ready' only comes when the whole Cluster reconnected (it reloads at once: no single
    // connection to ask); the subscription moving to another node is followed below.
    let first = true;
    sub.on('ready', () => {
      if (first) {
        first = false;
        return;
      }
      if ((sub as Cluster).isCluster) onResync();
      else (sub as Redis).ping().then(onResync, onResync);
    });
    sub.on('error', () => undefined); // reconnects by itself; state is reloaded on 'ready'
    try {
      await sub.subscribe(channel);
      if ((sub as Cluster).isCluster) followClusterSubscription(sub as Cluster, onResync);
    } catch (err) {
      // a subscription that never started must not leave its connection behind (callers retry)
      sub.disconnect();
      if (this.subscriber === sub) this.subscriber = null;
      throw err;
    }
    return async () => {
      await sub.unsubscribe(channel).catch(() => undefined);
      sub.disconnect();
      if (this.subscriber === sub) this.subscriber = null;
    };
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect();
    this.subscriber = null;
  }
}

/** ioredis's ClusterSubscriber (internal, ioredis 5): the one connection a Cluster subscribes through. */
interface ClusterSubscriberInternals {
  getInstance(): Redis | null;
}

/**
 * A Cluster subscribes through one connection to one node (ioredis's ClusterSubscriber). When that
 * connection ends — its node failed, or the connection alone was dropped — or its node leaves the
 * cluster, ioredis subscribes again through a new connection to another node, with no event on the
 * Cluster: what was published in between was lost, and nothing told the subscriber to load
 * (test/integration/sidecar/controlPlaneResubscribe.test.ts: a block published then applied only at
 * the 30 s periodic load). This follows those connections and calls `onResync` once a new one is
 * subscribed: its 'ready' comes after its SUBSCRIBE went out (ioredis sends the queued commands
 * first), so a PING on it answers after the SUBSCRIBE took effect, as on a single Redis.
 *
 * ioredis replaces the connection on that connection's 'end' (from a listener added before ours, so
 * the new one exists when ours runs), and on the Cluster's '-node' / '+node' (after they are
 * emitted: a microtask later). Should a later ioredis not have `getInstance`, every '+node' /
 * '-node' calls `onResync` instead: coarser (no PING barrier, and a connection dropped while its
 * node stays is not seen), and the integration test above fails on it.
 */
function followClusterSubscription(cluster: Cluster, onResync: () => void): void {
  const internals = (cluster as unknown as { subscriber?: Partial<ClusterSubscriberInternals> }).subscriber;
  if (typeof internals?.getInstance !== 'function') {
    cluster.on('-node', onResync);
    cluster.on('+node', onResync);
    return;
  }
  const subscriber = internals as ClusterSubscriberInternals;
  // the connection subscribe() just subscribed through: its caller loads after it
  let current = subscriber.getInstance();
  const follow = (): void => {
    const conn = subscriber.getInstance();
    if (conn === current || conn === null) return;
    current = conn;
    conn.once('end', follow);
    // one that never gets ready (its node is gone too) ends, and the next one is followed
    conn.once('ready', () => void conn.ping().then(onResync, onResync));
  };
  current?.once('end', follow);
  const soon = (): void => queueMicrotask(follow);
  cluster.on('-node', soon);
  cluster.on('+node', soon);
}

/** One process's control plane: same semantics and message format, no Redis. */
export class MemoryControlPlane implements ControlPlane {
  private seq = 0;
  private readonly hashes: Record<ControlKind, Map<string, string>> = { override: new Map(), block: new Map(), load: new Map() };
  private readonly channel = new EventEmitter();

  async write<K extends ControlKind>(kind: K, field: string, value: Unsequenced<K> | null): Promise<number> {
    if (kind === 'override' && parseOverrideField(field) === null) throw new TypeError('override field must be <ruleId>|<clientKey>');
    if (value !== null) {
      const error = checkControlValue(kind, { ...(value as object), seq: 0 });
      if (error) throw new TypeError(`invalid ${kind} value: ${error}`);
    }
    const seq = ++this.seq;
    let stored: string | null = null;
    if (value === null) this.hashes[kind].delete(field);
    else {
      const { seq: _ignored, ...rest } = value as Unsequenced<K> & { seq?: number };
      stored = JSON.stringify({ seq, ...rest });
      this.hashes[kind].set(field, stored);
    }
    const message = `{"v":1,"seq":${seq},"kind":"${kind}","field":${JSON.stringify(field)},"value":${stored ?? 'null'}}`;
    // asynchronous like a real channel, so writers never run subscriber code inline
    queueMicrotask(() => this.channel.emit('message', message));
    return seq;
  }

  async read(): Promise<ControlState> {
    const decodeAll = <K extends ControlKind>(kind: K): Map<string, ValueOf<K>> => {
      const out = new Map<string, ValueOf<K>>();
      for (const [field, text] of this.hashes[kind]) {
        const d = decodeControlValue(kind, text);
        if (d.ok) out.set(field, d.value);
      }
      return out;
    };
    return {
      seq: this.seq,
      overrides: decodeAll('override') as Map<string, OverrideValue>,
      blocks: decodeAll('block') as Map<string, BlockValue>,
      load: decodeAll('load') as Map<string, LoadValue>,
      invalid: [],
    };
  }

  async subscribe(onMessage: (raw: string) => void, _onResync: () => void): Promise<() => Promise<void>> {
    this.channel.on('message', onMessage);
    return async () => {
      this.channel.off('message', onMessage);
    };
  }

  async close(): Promise<void> {
    this.channel.removeAllListeners();
  }
}

export { hashFor };
