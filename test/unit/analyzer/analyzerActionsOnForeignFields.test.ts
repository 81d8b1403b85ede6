/**
 * End to end through the Analyzer: what it writes to the control plane never undoes what an
 * operator put there, and a client key that is not one client is never acted on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { T0, ev, policy } from './helpers.js';

function setup(analyzerYaml: string) {
  let now = T0;
  const plane = new MemoryControlPlane();
  const reports = new MemoryReportStore();
  const analyzer = new Analyzer({ policy: policy(analyzerYaml), controlPlane: plane, reports, clock: () => now, detection: { warmupMs: 60_000 } });
  return {
    analyzer,
    plane,
    reports,
    get now() {
      return now;
    },
    set now(t: number) {
      now = t;
    },
  };
}

async function drive(s: ReturnType<typeof setup>, seconds: number, extra: (t: number) => CallEvent[] = () => []) {
  const opened = [];
  for (let i = 0; i < seconds; i++) {
    const t = s.now;
    const batch: CallEvent[] = [];
    for (let c = 0; c < 20; c++) if ((i + c) % 2 === 0) batch.push(ev({ ts: t + c * 10, client: `apiKey:${String(c).padStart(16, '0')}`, route: `/api/r${c % 4}`, ip: `10.0.0.${c}` }));
    batch.push(...extra(t));
    s.analyzer.ingest(batch);
    s.now = t + 1_000;
    opened.push(...(await s.analyzer.tick(s.now)).opened);
  }
  return opened;
}

const stuffing = (client: string) => (t: number): CallEvent[] =>
  Array.from({ length: 15 }, (_, j) => ev({ ts: t + j * 60, client, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));

test('an operator’s day-long block outlives the analyzer’s 1-minute block of the same client, whose report still expires', async () => {
  const ATTACKER = 'ip:203.0.113.9';
  const s = setup(`analyzer:\n  actions:\n    - { minScore: 0.5, action: block, ttl: 1m }\n`);
  await drive(s, 180);
  const day = s.now + 86_400_000;
  await s.plane.write('block', ATTACKER, { until: day, reason: 'blocked by hand' });
  const r = (await drive(s, 20, stuffing(ATTACKER))).find((x) => x.client === ATTACKER)!;
  assert.ok(r, 'the attack is reported');
  await drive(s, 70);
  const block = (await s.plane.read()).blocks.get(ATTACKER);
  assert.ok(block, 'the client is still blocked');
  assert.equal(block.until, day);
  assert.equal(block.reason, 'blocked by hand');
  assert.equal((await s.reports.get(r.id))!.status, 'expired', 'the analyzer’s own block ended');
});

test('events under the client key `*` never become an override for every client', async () => {
  const s = setup(`analyzer:\n  actions:\n    - { minScore: 0.5, action: tighten, multiplier: 0.2, ttl: 10m }\n`);
  await drive(s, 180);
  await drive(s, 20, stuffing('*'));
  const state = await s.plane.read();
  assert.deepEqual([...state.overrides.keys()], []);
  assert.deepEqual([...state.blocks.keys()], []);
});
