/**
 * State snapshots in Redis (standalone or Cluster), per consumer group:
 *
 *   <prefix>:<group>:c:<client>   string  the client's snapshot (snapshotCodec.ts), PX ttl on every write
 *   <prefix>:<group>:g            hash    `warm` → event time (ms) of the group's first learned event;
 *                                         `pop:<tier>/<sizeMs>` → a population ring; PEXPIRE ttl on every write
 *
 * Client keys carry no hash tag, so a Cluster spreads them over its slots; lookups are one MGET on a
 * standalone Redis, and per-key GETs (auto-pipelined per node by ioredis) on a Cluster. Default
 * prefix `rw:analyzer:state`, TTL 7 days: a client not seen (so not rewritten) for that long is
 * forgotten, and so is a group that stopped running.
 */
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_STATE_TTL_MS, type ClientStateStore, type GroupState, type SnapshotEntry } from './stateStore.js';

export const DEFAULT_STATE_PREFIX = 'rw:analyzer:state';

export interface StateKeys {
  client(client: string): string;
  readonly group: string;
}

export function stateKeys(prefix: string, group: string): StateKeys {
  const base = `${prefix}:${group}`;
  return { client: (c) => `${base}:c:${c}`, group: `${base}:g` };
}

export class RedisStateStore implements ClientStateStore {
  readonly keys: StateKeys;
  readonly ttlMs: number;
  private readonly cluster: boolean;

  constructor(
    private readonly redis: Redis | Cluster,
    opts: { prefix?: string; group: string; ttlMs?: number },
  ) {
    this.keys = stateKeys(opts.prefix ?? DEFAULT_STATE_PREFIX, opts.group);
    this.ttlMs = opts.ttlMs ?? DEFAULT_STATE_TTL_MS;
    this.cluster = (redis as Cluster).isCluster === true;
  }

  async getClients(clients: readonly string[]): Promise<Array<Uint8Array | null>> {
    if (clients.length === 0) return [];
    const keys = clients.map((c) => this.keys.client(c));
    if (!this.cluster) return (await (this.redis as Redis).mgetBuffer(...keys)).map((b) => b ?? null);
    return Promise.all(keys.map((k) => this.redis.getBuffer(k)));
  }

  async putClients(entries: ReadonlyArray<SnapshotEntry>): Promise<void> {
    if (entries.length === 0) return;
    const ttl = (t: number | undefined): number => Math.max(1, Math.min(t ?? this.ttlMs, this.ttlMs));
    if (!this.cluster) {
      const p = (this.redis as Redis).pipeline();
      for (const [c, bytes, t] of entries) p.set(this.keys.client(c), toBuffer(bytes), 'PX', ttl(t));
      const results = (await p.exec()) ?? [];
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0]!;
      return;
    }
    await Promise.all(entries.map(([c, bytes, t]) => this.redis.set(this.keys.client(c), toBuffer(bytes), 'PX', ttl(t))));
  }

  async getGroup(): Promise<GroupState> {
    const all = await this.redis.hgetallBuffer(this.keys.group);
    let warmSince: number | null = null;
    const populations = new Map<string, Uint8Array>();
    for (const [field, value] of Object.entries(all)) {
      if (field === 'warm') {
        const n = Number(value.toString());
        if (Number.isFinite(n)) warmSince = n;
      } else if (field.startsWith('pop:')) populations.set(field.slice(4), value);
    }
    return { warmSince, populations };
  }

  async putGroup(warmSince: number | null, populations: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    const key = this.keys.group;
    const m = this.redis.multi();
    // the earliest mark wins (not the first written): a mark stored from a future event time, before
    // those were skipped (analyzer/ingest/eventTime.ts), is replaced by the next good one
    if (warmSince !== null && Number.isFinite(warmSince)) m.eval(KEEP_EARLIEST_WARM, 1, key, String(Math.floor(warmSince)));
    for (const [k, bytes] of populations) m.hset(key, `pop:${k}`, toBuffer(bytes));
    m.pexpire(key, this.ttlMs);
    const results = (await m.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0]!;
  }
}

/** HSET warm ARGV[1] unless the stored mark is earlier. */
const KEEP_EARLIEST_WARM = `local cur = tonumber(redis.call('HGET', KEYS[1], 'warm'))
if cur == nil or cur > tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'warm', ARGV[1]) end
return 0`;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
