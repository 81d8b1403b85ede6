/**
 * A new anomaly's action written over the field an older anomaly's action still holds (after the
 * cool-down, the same client blocked again with a later end) replaces it in the control plane: the
 * older action ends at its own `until` all the same, and its report becomes `expired` with a
 * history entry, instead of staying `actioned` forever. The newer episode's action is not ended by it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { T0, ev, policy } from './helpers.js';

const ATTACKER = 'ip:203.0.113.9';

test('the older report of a block rewritten by a newer anomaly’s block expires at its own end', async () => {
  let now = T0;
  const plane = new MemoryControlPlane();
  const reports = new MemoryReportStore();
  const analyzer = new Analyzer({ policy: policy(`analyzer:\n  cooldown: 5m\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`), controlPlane: plane, reports, clock: () => now, detection: { warmupMs: 60_000 } });
  const opened: AnomalyReport[] = [];
  const attacking = (i: number): boolean => (i >= 180 && i < 200) || (i >= 600 && i < 820);
  for (let i = 0; i < 900; i++) {
    const t = now;
    const batch: CallEvent[] = [];
    for (let c = 0; c < 20; c++) if ((i + c) % 2 === 0) batch.push(ev({ ts: t + c * 10, client: `apiKey:${String(c).padStart(16, '0')}`, route: `/api/r${c % 4}`, ip: `10.0.0.${c}` }));
    if (attacking(i)) for (let j = 0; j < 15; j++) batch.push(ev({ ts: t + j * 60, client: ATTACKER, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));
    analyzer.ingest(batch);
    now = t + 1_000;
    opened.push(...(await analyzer.tick(now)).opened);
  }
  const mine = opened.filter((r) => r.client === ATTACKER);
  assert.equal(mine.length, 2, 'two episodes, two reports');
  const [first, second] = [(await reports.get(mine[0]!.id))!, (await reports.get(mine[1]!.id))!];
  const firstUntil = first.action.until!;
  const block = (await plane.read()).blocks.get(ATTACKER)!;
  assert.equal(block.anomalyId, second.id, 'the newer block holds the field');
  assert.ok(firstUntil < now && block.until > now, 'the first block’s end has passed, the second is in force');
  assert.equal(second.status, 'actioned');
  assert.equal(first.status, 'expired', JSON.stringify(first.history.map((h) => h.what)));
  assert.ok(first.history.some((h) => h.what === 'expired'));
  // the second attack goes on past the first block's end: its episode's block is still its action
  const ep = analyzer.client(ATTACKER)!.decision.episode;
  assert.equal(ep?.reportId, second.id);
  assert.equal(ep.applied, true, 'the first block’s end did not end the second episode’s action');
  assert.equal(ep.action, 'block');
});
