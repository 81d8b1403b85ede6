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
  /**
   * Per load mark (`beginLoad()`), the highest seq seen when it was taken. Every seq seen then was
   * INCRed in Redis before the load's read, so a load that reads a lower seq means Redis went back
   * in time (a failover that lost the last writes, a restart from an older snapshot).
   */
  private readonly markSeqs = new Map<number, number>();
  /**
   * How many block fields, and override fields, name a composite client key (`apiKey:…|ip:…`), so
   * requests pay for composite lookups only while such a field exists. Counted as fields come and
   * go: rescanning every field after each change cost the next request O(fields) (≈ 3 ms at 100 000 blocks).
   */
  private compositeBlocks = 0;
  private compositeOverrides = 0;

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
      this.remove(msg.kind, msg.field);
      this.bury(msg.kind, msg.field, msg.seq, now);
    } else {
      tombs.delete(msg.field);
      this.put(msg.kind, msg.field, { ...msg.value, seq: msg.seq });
    }
    this.touched[msg.kind].set(msg.field, ++this.epoch);
    return true;
  }

  /** Call when a full load's read begins; pass the result to `replace` with that load. */
  beginLoad(): number {
    const mark = this.epoch;
    this.markSeqs.set(mark, Math.max(this.markSeqs.get(mark) ?? 0, this.lastSeq));
    if (this.markSeqs.size > 64) this.markSeqs.delete(this.markSeqs.keys().next().value!); // loads that never finished
    return mark;
  }

  private isComposite(kind: ControlKind, field: string): boolean {
    // an override field is `<ruleId>|<clientKey>`: a second `|` is in the client key
    return kind === 'block' ? field.includes('|') : kind === 'override' && field.indexOf('|') !== field.lastIndexOf('|');
  }

  private put(kind: ControlKind, field: string, value: Sequenced): void {
    const map = this.mapOf(kind);
    if (!map.has(field) && this.isComposite(kind, field)) {
      if (kind === 'block') this.compositeBlocks++;
      else this.compositeOverrides++;
    }
    map.set(field, value);
  }

  private remove(kind: ControlKind, field: string): void {
    if (this.mapOf(kind).delete(field) && this.isComposite(kind, field)) {
      if (kind === 'block') this.compositeBlocks--;
      else this.compositeOverrides--;
    }
  }

  /**
   * Merges a full load (read at `loaded.seq`): fields at or below that seq come from the load, except
   * those a message changed after `mark` (the load's `beginLoad()`; by default now: all before).
   */
  replace(loaded: LoadedState, mark = this.epoch, now = performance.now()): void {
    const s = loaded.seq;
    const seenAtMark = this.markSeqs.get(mark) ?? 0;
    for (const m of this.markSeqs.keys()) if (m <= mark) this.markSeqs.delete(m);
    if (s < this.loadedSeq || s < seenAtMark) {
      // Redis's seq is below one it had before (a load's, or a message's seen before this load
      // began): it was wiped, restarted without its data or from an older snapshot, or failed over
      // to a replica that missed the last writes. Its fields and new writes reuse seqs that what we
      // hold would outrank: the load is the whole truth, and nothing held before it counts — only
      // what messages changed while it was in flight, which is newer than its read.
      let kept = s;
      for (const kind of KINDS) {
        const map = this.mapOf(kind);
        const touched = this.touched[kind];
        const after = (field: string): boolean => (touched.get(field) ?? 0) > mark;
        for (const [field, v] of map) {
          if (!after(field)) this.remove(kind, field);
          else if (v.seq > kept) kept = v.seq;
        }
        for (const [field, t] of this.tombstones[kind]) {
          if (!after(field)) this.tombstones[kind].delete(field);
          else if (t.seq > kept) kept = t.seq;
        }
        for (const [field, e] of touched) if (e <= mark) touched.delete(field);
      }
      this.lastSeq = kept;
      this.resets++;
    }
    this.loadedSeq = s;
    this.merge('override', loaded.overrides, s, mark, now, loaded.invalid);
    this.merge('block', loaded.blocks, s, mark, now, loaded.invalid);
    this.merge('load', loaded.load, s, mark, now, loaded.invalid);
    if (s > this.lastSeq) this.lastSeq = s;
  }

  private merge(kind: ControlKind, fresh: ReadonlyMap<string, Sequenced>, s: number, mark: number, now: number, invalid: LoadedState['invalid'] = []): void {
    const map = this.mapOf(kind);
    const tombs = this.tombstones[kind];
    const touched = this.touched[kind];
    // a stored value that did not decode is skipped (counted by the caller): what we hold stays
    let skipped: Set<string> | null = null;
    for (const bad of invalid) if (bad.kind === kind) (skipped ??= new Set()).add(bad.field);
    for (const [field, current] of map) {
      // absent from a load at ≥ its seq: deleted since — unless a message set it after the read began
      if (fresh.has(field) || current.seq > s || (touched.get(field) ?? 0) > mark || skipped?.has(field)) continue;
      this.remove(kind, field);
      this.bury(kind, field, current.seq, now);
    }
    for (const [field, value] of fresh) {
      const held = map.get(field)?.seq ?? tombs.get(field)?.seq ?? 0;
      if (value.seq > held) {
        this.put(kind, field, value);
        tombs.delete(field);
      } else if (tombs.has(field)) {
        this.remove(kind, field);
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

  // ---- ControlView (the engine's questions)

  block(identities: readonly string[], now: number): { until: number; reason: string; anomalyId?: string } | null {
    if (this.blocks.size === 0) return null;
    for (let i = 0; i < identities.length; i++) {
      const b = this.blocks.get(identities[i]!);
      if (b !== undefined && b.until > now) return b;
    }
    if (identities.length > 1 && this.compositeBlocks > 0) {
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
    const composite = identities.length > 1 && this.compositeOverrides > 0 ? compositeKeys(identities) : NONE;
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
 * The composite client keys a request's identities form, the most specific first: all three, then
 * every pair — `apiKey:…|user:…|ip:…`, `apiKey:…|user:…`, `apiKey:…|ip:…`, `user:…|ip:…` — each in the
 * request's order (the sidecar's is apiKey, user, ip) and then in the others: a hybrid key names a
 * set of identities, and `ip:…|apiKey:…` (a rule keyed [ip, apiKey], an operator's spelling) is the
 * same client. Only computed while some field names a composite key.
 */
function compositeKeys(identities: readonly string[]): string[] {
  const out: string[] = [];
  const n = identities.length;
  if (n === 3) {
    const [a, b, c] = identities as readonly [string, string, string];
    out.push(`${a}|${b}|${c}`, `${a}|${c}|${b}`, `${b}|${a}|${c}`, `${b}|${c}|${a}`, `${c}|${a}|${b}`, `${c}|${b}|${a}`);
  } else if (n > 3) out.push(identities.join('|'));
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out.push(identities[i] + '|' + identities[j], identities[j] + '|' + identities[i]);
  return out;
}
