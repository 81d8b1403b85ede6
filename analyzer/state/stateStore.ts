/**
 * Where the analyzer's state snapshots live: one opaque snapshot per client (snapshotCodec.ts), and
 * per consumer group the warm-up mark and the tiers' population rings. Redis in production
 * (redisStateStore.ts); MemoryStateStore for tests, scripts and the demo.
 */

export interface GroupState {
  /** Event time of the first event the consumer group learned from, or null (never learned, or expired). */
  readonly warmSince: number | null;
  /** Population rings by `<tier>/<sizeMs>`. */
  readonly populations: ReadonlyMap<string, Uint8Array>;
}

/** A client, its snapshot, and how long to keep it (default and maximum: the store's TTL). */
export type SnapshotEntry = readonly [client: string, bytes: Uint8Array, ttlMs?: number];

export interface ClientStateStore {
  /** Snapshots of these clients, in order (null: none). */
  getClients(clients: readonly string[]): Promise<Array<Uint8Array | null>>;
  /** Writes (replaces) these clients' snapshots, each with its TTL. */
  putClients(entries: ReadonlyArray<SnapshotEntry>): Promise<void>;
  getGroup(): Promise<GroupState>;
  /**
   * Records the warm-up mark (an earlier stored mark is kept: the group learned since then; a later
   * one — e.g. stored from a future event time — is replaced) and replaces
   * the given population rings; refreshes the group's TTL.
   */
  putGroup(warmSince: number | null, populations: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void>;
  /** How long a snapshot lives without being rewritten. */
  readonly ttlMs: number;
}

export const DEFAULT_STATE_TTL_MS = 7 * 86_400_000;

/** In-process store (no TTL enforcement): tests, scripts, the demo. */
export class MemoryStateStore implements ClientStateStore {
  readonly clients = new Map<string, Uint8Array>();
  readonly populations = new Map<string, Uint8Array>();
  warmSince: number | null = null;
  /** Calls of getClients and the clients they asked for (tests check batching). */
  readonly lookups: string[][] = [];

  constructor(readonly ttlMs = DEFAULT_STATE_TTL_MS) {}

  async getClients(clients: readonly string[]): Promise<Array<Uint8Array | null>> {
    this.lookups.push([...clients]);
    return clients.map((c) => this.clients.get(c) ?? null);
  }

  /** TTL of each client's last write. */
  readonly ttls = new Map<string, number>();

  async putClients(entries: ReadonlyArray<SnapshotEntry>): Promise<void> {
    for (const [c, bytes, ttl] of entries) {
      this.clients.set(c, bytes);
      this.ttls.set(c, Math.min(ttl ?? this.ttlMs, this.ttlMs));
    }
  }

  async getGroup(): Promise<GroupState> {
    return { warmSince: this.warmSince, populations: new Map(this.populations) };
  }

  async putGroup(warmSince: number | null, populations: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    if (warmSince !== null && (this.warmSince === null || warmSince < this.warmSince)) this.warmSince = warmSince;
    for (const [k, bytes] of populations) this.populations.set(k, bytes);
  }
}
