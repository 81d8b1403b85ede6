/**
 * The sidecar's copy of the control plane (overrides, blocks, load) and the engine's view of it.
 * Pure: messages and full loads in, answers out; time is a parameter.
 *
 * Ordering: every field carries the seq of the write that produced it, and deletions leave a
 * tombstone with theirs, so a message older than what we hold — a late message on a Cluster, or one
 * racing a full load — never overwrites newer state. A full load read at seq S replaces every field
 * we last saw at or below S (Redis is the truth for those) and keeps only newer ones.
 *
 * `until` is honoured here on every lookup, so nothing outlives its TTL when the analyzer that
 * would remove it is gone.
 */
import { ANY, type BlockValue, type ControlKind, type ControlMessage, type ControlState as LoadedState, type LoadValue, type OverrideValue } from '../../models/control.js';
import type { ControlView } from '../engine/types.js';

/** Bound on remembered deletions between full loads (a load clears those it covers). */
const MAX_TOMBSTONES = 100_000;

type Sequenced = { readonly seq: number };

export class ControlState implements ControlView {
  /** Highest seq seen (message or load). */
  lastSeq = 0;
  private readonly overrides = new Map<string, OverrideValue>();
  private readonly blocks = new Map<string, BlockValue>();
  private readonly load = new Map<string, LoadValue>();
  private readonly tombstones: Record<ControlKind, Map<string, number>> = { override: new Map(), block: new Map(), load: new Map() };

  constructor(readonly service: string) {}

  private mapOf(kind: ControlKind): Map<string, Sequenced> {
    return kind === 'override' ? this.overrides : kind === 'block' ? this.blocks : this.load;
  }

  /** Applies one channel message; false when it is older than what is held for its field. */
  apply(msg: ControlMessage): boolean {
    const map = this.mapOf(msg.kind);
    const tombs = this.tombstones[msg.kind];
    const held = map.get(msg.field)?.seq ?? tombs.get(msg.field) ?? 0;
    if (msg.seq > this.lastSeq) this.lastSeq = msg.seq;
    if (msg.seq <= held) return false;
    if (msg.value === null) {
      map.delete(msg.field);
      tombs.set(msg.field, msg.seq);
      if (tombs.size > MAX_TOMBSTONES) tombs.delete(tombs.keys().next().value!);
    } else {
      tombs.delete(msg.field);
      map.set(msg.field, { ...msg.value, seq: msg.seq });
    }
    return true;
  }

  /** Merges a full load (read at `loaded.seq`): fields at or below that seq come from the load. */
  replace(loaded: LoadedState): void {
    const s = loaded.seq;
    this.merge('override', loaded.overrides, s);
    this.merge('block', loaded.blocks, s);
    this.merge('load', loaded.load, s);
    if (s > this.lastSeq) this.lastSeq = s;
  }

  private merge(kind: ControlKind, fresh: ReadonlyMap<string, Sequenced>, s: number): void {
    const map = this.mapOf(kind);
    const tombs = this.tombstones[kind];
    for (const [field, current] of map) {
      // absent from a load at ≥ its seq: deleted since
      if (!fresh.has(field) && current.seq <= s) map.delete(field);
    }
    for (const [field, value] of fresh) {
      const held = map.get(field)?.seq ?? tombs.get(field) ?? 0;
      if (value.seq > held) {
        map.set(field, value);
        tombs.delete(field);
      } else if (tombs.has(field)) {
        map.delete(field);
      }
    }
    for (const [field, seq] of tombs) if (seq <= s) tombs.delete(field);
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
    return null;
  }

  override(ruleId: string, identities: readonly string[], now: number): { multiplier?: number; limit?: number } | null {
    if (this.overrides.size === 0) return null;
    const m = this.overrides;
    for (let i = 0; i < identities.length; i++) {
      const o = m.get(ruleId + '|' + identities[i]);
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
    const perTier = l.tiers?.[tier];
    return perTier ?? l.multiplier;
  }
}
