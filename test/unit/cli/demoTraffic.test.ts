import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEMO_ATTACKS } from '../../../cli/commands/demo.js';
import { createLiveSimulation } from '../../../simulator/live.js';

/**
 * The demo policy says its limits are ones "a normal client never reaches": the demo is meant to show
 * the attacker limited and blocked, and nobody else. With `per-key` at 300 a minute, the demo's
 * busiest simulated client (~7.5 req/s) was answered 429 all along, and the analyzer then reported
 * and tightened that normal client too. This replays the demo's own traffic (same seeds and attack
 * as `ratewarden demo`, no HTTP) against the limits of examples/demo-policy.yaml.
 */
const ROOT = join(import.meta.dirname, '..', '..', '..');
const policy = parseYaml(readFileSync(join(ROOT, 'examples', 'demo-policy.yaml'), 'utf8')) as {
  rules: Array<{ id: string; limit?: number; window?: string; match?: { method?: string; path?: string } }>;
};
const rule = (id: string): { limit: number; windowMs: number } => {
  const r = policy.rules.find((x) => x.id === id);
  assert.ok(r?.limit !== undefined && r.window !== undefined, `rule ${id} with limit and window`);
  const m = /^(\d+)s$/.exec(r.window);
  assert.ok(m, `rule ${id} window in seconds: ${r.window}`);
  return { limit: r.limit, windowMs: Number(m[1]) * 1000 };
};

/** The most calls any one key makes in any window of windowMs (a sliding log: the strictest reading of a limit). */
function busiest(calls: Array<{ key: string; ts: number }>, windowMs: number): Map<string, number> {
  const byKey = new Map<string, number[]>();
  for (const c of calls) (byKey.get(c.key) ?? byKey.set(c.key, []).get(c.key)!).push(c.ts);
  const max = new Map<string, number>();
  for (const [key, ts] of byKey) {
    ts.sort((a, b) => a - b);
    let lo = 0;
    let best = 0;
    for (let hi = 0; hi < ts.length; hi++) {
      while (ts[hi]! - ts[lo]! >= windowMs) lo++;
      best = Math.max(best, hi - lo + 1);
    }
    max.set(key, best);
  }
  return max;
}

for (const seed of ['demo', 'a', 'b']) {
  test(`demo traffic (seed ${seed}): no normal client reaches the demo policy's limits; the attacker does`, () => {
    const startMs = 1_700_000_000_000;
    const sim = createLiveSimulation({ seed, attacks: DEMO_ATTACKS, durationMs: 10 * 60_000 }, startMs);
    const attackers = new Set(sim.labels.flatMap((l) => l.clients));
    assert.equal(attackers.size, 1);
    const api: Array<{ key: string; ts: number }> = [];
    const logins: Array<{ key: string; ts: number }> = [];
    let attackerCalls = 0;
    for (const c of sim.calls()) {
      const normal = !attackers.has(c.event.client);
      if (!normal) attackerCalls++;
      if (c.path.startsWith('/api/') && c.apiKey !== null) api.push({ key: c.event.client, ts: c.event.ts });
      if (normal && c.method === 'POST' && c.path === '/login') logins.push({ key: c.event.ip, ts: c.event.ts });
    }
    assert.ok(attackerCalls > 1000, `the attack is in the traffic: ${attackerCalls} calls`);

    const perKey = rule('per-key');
    const apiMax = busiest(api, perKey.windowMs);
    const [attacker] = attackers;
    let normalMax = 0;
    for (const [key, n] of apiMax) if (!attackers.has(key)) normalMax = Math.max(normalMax, n);
    assert.ok(normalMax > 0, 'normal clients call /api/');
    assert.ok(normalMax < perKey.limit, `busiest normal client: ${normalMax} calls in ${perKey.windowMs} ms, per-key limit ${perKey.limit}`);
    assert.ok((apiMax.get(attacker!) ?? 0) > perKey.limit, `the attacker exceeds per-key: ${apiMax.get(attacker!)} > ${perKey.limit}`);

    const login = rule('login');
    const loginMax = Math.max(0, ...busiest(logins, login.windowMs).values());
    assert.ok(loginMax < login.limit, `busiest normal IP on POST /login: ${loginMax} in ${login.windowMs} ms, limit ${login.limit}`);
  });
}
