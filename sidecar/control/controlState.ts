/**
 * The sidecar's copy of the control plane (overrides, blocks, load) and the engine's view of it.
 * Pure: messages and full loads in, answers out; time is a parameter.
 *
 * Ordering: every field carries the seq of the write that produced it, and deletions leave a
 * tombstone with theirs, so a message older than what we hold — a late message on a Cluster, or one
 * racing a full load — never overwrites newer state. A full load read at seq S replaces every field
 * we last saw at or below S (Redis is the truth for those) and keeps only newer ones, with two
 * exceptions for a Cluster, whose writes are not atomic (INCR seq, HSET, PUBLISH as three commands):
 * - a field a message changed after the load's read began (`beginLoad()`) is kept: the load may have
 *   read seq S before that write's HSET landed;
 * - tombstones outlive the loads that cover them by TOMBSTONE_GRACE_MS, so a message published
 *   before a deletion but delivered after it and after a load still finds the deletion.
 *
 * `until` is honoured here on every lookup, so nothing outlives its TTL when the analyzer that
 * would remove it is gone.
 */
import { ANY, type BlockValue, type ControlKind, type ControlMessage, type ControlState as LoadedState, type LoadValue, type OverrideValue } from '../../models/control.js';
import type { ControlView } from '../engine/types.js';

/** Bound on remembered deletions (the oldest go first). */
const MAX_TOMBSTONES = 100_000;
/** How long a deletion is remembered at least, loads or not: far longer than any message is late. */
export const TOMBSTONE_GRACE_MS = 60_000;

interface Tombstone {
  readonly seq: number;
  /** performance.now() when it was made. */
  readonly at: number;
}

type Sequenced = { readonly seq: number };

const KINDS: readonly ControlKind[] = ['override', 'block', 'load'];

export class ControlState implements ControlView {
  /** Highest seq seen (message or load). */
  lastSeq = 0;
  /** The seq the last full load read; one lower than it means Redis lost its state. */
  private loadedSeq = 0;
  /** How many times that happened. */
  resets = 0;
  private readonly overrides = new Map<string, OverrideValue>();
  private readonly blocks = new Map<string, BlockValue>();
  private readonly load = new Map<string, LoadValue>();
  private readonly tombstones: Record<ControlKind, Map<string, Tombstone>> = { override: new Map(), block: new Map(), load: new Map() };
  /** Messages applied so far; `touched` holds, per field, the count when a message last changed it. */
  private epoch = 0;
  private readonly touched: Record<ControlKind, Map<string, number>> = { override: new Map(), block: new Map(), load: new Map() };

  constructor(readonly service: string) {}

  private mapOf(kind: ControlKind): Map<string, Sequenced> {
    return kind === 'override' ? this.overrides : kind === 'block' ? this.blocks : this.load;
  }

  /** Applies one channel message; false when it is older than what is held for its field. */
  apply(msg: ControlMessage, now = performance.now()): boolean {
    const map = this.mapOf(msg.kind);
    const tombs = this.tombstones[msg.kind];
    const held = map.get(msg.field)?.seq ?? tombs.get(msg.field)?.seq ?? 0;
    if (msg.seq > this.lastSeq) this.lastSeq = msg.seq;
    if (msg.seq <= held) return false;
    if (msg.value === null) {
      map.delete(msg.field);
      this.bury(msg.kind, msg.field, msg.seq, now);
    } else {
      tombs.delete(msg.field);
      map.set(msg.field, { ...msg.value, seq: msg.seq });
    }
    this.touched[msg.kind].set(msg.field, ++this.epoch);
    this.compositeCache = null;
    return true;
  }

  /** Call when a full load's read begins; pass the result to `replace` with that load. */
  beginLoad(): number {
    return this.epoch;
  }

  /**
   * Merges a full load (read at `loaded.seq`): fields at or below that seq come from the load, except
   * those a message changed after `mark` (the load's `beginLoad()`; by default now: all before).
   */
  replace(loaded: LoadedState, mark = this.epoch, now = performance.now()): void {
    const s = loaded.seq;
    if (s < this.loadedSeq) {
      // Redis's seq went backwards between two loads: it was wiped or restarted without its data.
      // Its fields and new writes start over at low seqs, which what we hold would outrank: the
      // load is the whole truth, and nothing held before it counts.
      for (const kind of KINDS) {
        this.mapOf(kind).clear();
        this.tombstones[kind].clear();
        this.touched[kind].clear();
      }
      this.lastSeq = s;
      this.resets++;
    }
    this.loadedSeq = s;
    this.merge('override', loaded.overrides, s, mark, now);
    this.merge('block', loaded.blocks, s, mark, now);
    this.merge('load', loaded.load, s, mark, now);
    if (s > this.lastSeq) this.lastSeq = s;
    this.compositeCache = null;
  }

  private merge(kind: ControlKind, fresh: ReadonlyMap<string, Sequenced>, s: number, mark: number, now: number): void {
    const map = this.mapOf(kind);
    const tombs = this.tombstones[kind];
    const touched = this.touched[kind];
    for (const [field, current] of map) {
      // absent from a load at ≥ its seq: deleted since — unless a message set it after the read began
      if (fresh.has(field) || current.seq > s || (touched.get(field) ?? 0) > mark) continue;
      map.delete(field);
      this.bury(kind, field, current.seq, now);
    }
    for (const [field, value] of fresh) {
      const held = map.get(field)?.seq ?? tombs.get(field)?.seq ?? 0;
      if (value.seq > held) {
        map.set(field, value);
        tombs.delete(field);
      } else if (tombs.has(field)) {
        map.delete(field);
      }
    }
    for (const [field, t] of tombs) if (t.seq <= s && now - t.at >= TOMBSTONE_GRACE_MS) tombs.delete(field);
    for (const [field, e] of touched) if (e <= mark) touched.delete(field);
  }

  private bury(kind: ControlKind, field: string, seq: number, now: number): void {
    const tombs = this.tombstones[kind];
    tombs.delete(field); // re-inserted last: the Map's order is the eviction order
    tombs.set(field, { seq, at: now });
    if (tombs.size > MAX_TOMBSTONES) tombs.delete(tombs.keys().next().value!);
  }

  get counts(): { overrides: number; blocks: number; load: number } {
    return { overrides: this.overrides.size, blocks: this.blocks.size, load: this.load.size };
  }

  /**
   * Whether any block or override names a composite client key (`apiKey:…|ip:…`): computed again only
   * after a change, so requests pay for composite lookups only while such a field exists.
   */
  private compositeCache: { blocks: boolean; overrides: boolean } | null = null;
  private composites(): { blocks: boolean; overrides: boolean } {
    if (this.compositeCache === null) {
      let blocks = false;
      for (const field of this.blocks.keys()) if (field.includes('|')) blocks = true;
      let overrides = false;
      // an override field is `<ruleId>|<clientKey>`: a second `|` is in the client key
      for (const field of this.overrides.keys()) if (field.indexOf('|') !== field.lastIndexOf('|')) overrides = true;
      this.compositeCache = { blocks, overrides };
    }
    return this.compositeCache;
  }

  // ---- ControlView (the engine's questions)

  block(identities: readonly string[], now: number): { until: number; reason: string; anomalyId?: string } | null {
    if (this.blocks.size === 0) return null;
    for (let i = 0; i < identities.length; i++) {
      const b = this.blocks.get(identities[i]!);
      if (b !== undefined && b.until > now) return b;
    }
    if (identities.length > 1 && this.composites().blocks) {
      for (const key of compositeKeys(identities)) {
        const b = this.blocks.get(key);
        if (b !== undefined && b.until > now) return b;
      }
    }
    return null;
  }

  override(ruleId: string, identities: readonly string[], now: number): { multiplier?: number; limit?: number } | null {
    if (this.overrides.size === 0) return null;
    const m = this.overrides;
    // the most specific first: a composite key (apiKey:…|ip:…) names more than any one of its parts
    const composite = identities.length > 1 && this.composites().overrides ? compositeKeys(identities) : NONE;
    for (const key of composite) {
      const o = m.get(ruleId + '|' + key);
      if (o !== undefined && o.until > now) return o;
    }
    for (let i = 0; i < identities.length; i++) {
      const o = m.get(ruleId + '|' + identities[i]);
      if (o !== undefined && o.until > now) return o;
    }
    for (const key of composite) {
      const o = m.get(ANY + '|' + key);
      if (o !== undefined && o.until > now) return o;
    }
    for (let i = 0; i < identities.length; i++) {
      const o = m.get(ANY + '|' + identities[i]);
      if (o !== undefined && o.until > now) return o;
    }
    const forRule = m.get(ruleId + '|' + ANY);
    if (forRule !== undefined && forRule.until > now) return forRule;
    const all = m.get(ANY + '|' + ANY);
    if (all !== undefined && all.until > now) return all;
    return null;
  }

  loadMultiplier(tier: string, now: number): number {
    if (this.load.size === 0) return 1;
    const l = this.load.get(this.service);
    if (l === undefined || (l.until !== undefined && l.until <= now)) return 1;
    // own properties only: a tier named `constructor` must not read Object.prototype's
    const perTier = l.tiers !== undefined && Object.hasOwn(l.tiers, tier) ? l.tiers[tier] : undefined;
    return typeof perTier === 'number' ? perTier : l.multiplier;
  }
}

const NONE: readonly string[] = [];

/**
 * The composite client keys a request's identities form, in their order (the sidecar's is apiKey,
 * user, ip), the most specific first: all three, then every pair — `apiKey:…|user:…|ip:…`,
 * `apiKey:…|user:…`, `apiKey:…|ip:…`, `user:…|ip:…`.
 */
function compositeKeys(identities: readonly string[]): string[] {
  const out: string[] = identities.length > 2 ? [identities.join('|')] : [];
  for (let i = 0; i < identities.length; i++) for (let j = i + 1; j < identities.length; j++) out.push(identities[i] + '|' + identities[j]);
  return out;
}
