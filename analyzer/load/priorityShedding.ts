/**
 * Priority shedding: one service multiplier m becomes per-tier multipliers that admit the same total
 * — m × the demand — while taking it from the least important tiers first. Tiers are grouped by
 * `shedPriority` (higher is shed first; 0 last); starting from the highest, each group is cut down
 * to the floor (`minMultiplier`) before the next group loses anything, and the group where the cut
 * ends takes only what is left (a waterfill over the demand shares):
 *
 *   demand free 60 %, pro 30 %, enterprise 10 %; m = 0.7 → cut 30 % of the total:
 *   free loses 30/60 → ×0.5, pro ×1, enterprise ×1.
 *
 * Demand shares are the tiers' request counts in the watcher's window; a tier without requests
 * there has no share to give, and is set to the floor when the cut has already reached its
 * priority (so a burst from it is shed like its peers). No tier goes below the floor, so m is
 * always reachable: m ≥ minMultiplier. Multipliers are rounded to 1e-3, then floored again: never
 * below the floor, never 0 (a 0 would block the tier; the policy's minMultiplier is at least 0.001).
 *
 * Tier names are read with Object.hasOwn: `constructor` or `toString` are valid tier names, and a
 * demand object without them must not lend them Object.prototype's members.
 */
import type { Tier } from '../../models/policy/index.js';
import { POLICY_BOUNDS } from '../../models/policy/schema.js';

function own(record: Readonly<Record<string, number>>, key: string): number | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function shedByPriority(
  multiplier: number,
  tiers: Readonly<Record<string, Tier>>,
  demand: Readonly<Record<string, number>>,
  floor: number,
): Record<string, number> {
  const names = Object.keys(tiers);
  const out: Record<string, number> = {};
  if (names.length === 0) return out;
  // the lowest multiplier ever published: the floor, and never 0 (a floor built by hand may be tiny)
  const lowest = Math.max(floor, POLICY_BOUNDS.minLoadMultiplier);
  const m = Math.max(floor, Math.min(1, multiplier));
  const demandOf = (name: string): number => Math.max(0, own(demand, name) ?? 0);
  let total = 0;
  for (const name of names) total += demandOf(name);
  const equalShares = total === 0;
  const share = (name: string): number => (equalShares ? 1 / names.length : demandOf(name) / total);
  // groups by priority, highest (shed first) first
  const priorities = [...new Set(names.map((n) => tiers[n]!.shedPriority))].sort((a, b) => b - a);
  let cut = 1 - m; // as a share of the total demand
  for (const p of priorities) {
    const group = names.filter((n) => tiers[n]!.shedPriority === p);
    let groupShare = 0;
    for (const n of group) groupShare += share(n);
    let mult: number;
    if (cut <= 1e-9) mult = 1;
    else if (groupShare <= 0) mult = floor;
    else {
      const take = Math.min(cut, groupShare * (1 - floor));
      mult = 1 - take / groupShare;
      cut -= take;
    }
    const rounded = Math.round(Math.max(floor, Math.min(1, mult)) * 1e3) / 1e3;
    for (const n of group) out[n] = Math.min(1, Math.max(lowest, rounded));
  }
  return out;
}

/** The admitted share of the demand under per-tier multipliers (for tests and the UI). */
export function admittedShare(multipliers: Readonly<Record<string, number>>, demand: Readonly<Record<string, number>>): number {
  let total = 0;
  let admitted = 0;
  for (const [tier, d] of Object.entries(demand)) {
    total += d;
    admitted += d * (own(multipliers, tier) ?? 1);
  }
  return total > 0 ? admitted / total : 1;
}
