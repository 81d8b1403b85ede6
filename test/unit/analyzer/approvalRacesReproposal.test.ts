/**
 * With requireApproval, a pending action is proposed again once its TTL passed while the anomaly goes
 * on. An operator's approval landing between the analyzer reading the report and recording the new
 * proposal must win: the report stays `actioned` with the approved action in force, not sent back to
 * `pending` with an unapplied action while the block it shows as waiting is already in force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallEvent } from '../../../models/events.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import type { ReportTransition, TransitionResult } from '../../../analyzer/reports/store.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { ev } from './helpers.js';
import { drive, setupAnalyzer } from './harness.js';

const ATTACKER = 'ip:203.0.113.9';
const stuffing = (t: number): CallEvent[] => Array.from({ length: 15 }, (_, j) => ev({ ts: t + j * 60, client: ATTACKER, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));

/** A store that runs `race` once, just before the analyzer records a renewed proposal. */
class RacingStore extends MemoryReportStore {
  race: (() => Promise<void>) | null = null;
  override async transition(id: string, change: ReportTransition): Promise<TransitionResult> {
    const race = this.race;
    if (race && change.entry.who.startsWith('analyzer') && change.entry.what === 'pending') {
      this.race = null;
      await race();
    }
    return super.transition(id, change);
  }
}

test('an approval landing while the analyzer proposes the same action again keeps the report actioned', async () => {
  const reports = new RacingStore();
  const s = setupAnalyzer(`analyzer:\n  requireApproval: true\n  cooldown: 30s\n  actions:\n    - { minScore: 0.5, action: block, ttl: 1m }\n`, 60_000, {}, new MemoryControlPlane(), reports);
  await drive(s, 180);
  const r = (await drive(s, 20, stuffing)).find((x) => x.client === ATTACKER)!;
  assert.equal(r.status, 'pending');
  // an operator approves through another instance just as this one renews the proposal
  const elsewhere = new AnalyzerBackend({ reports: s.reports, plane: s.plane, now: () => s.now });
  let approvedUntil = 0;
  reports.race = async () => {
    approvedUntil = (await elsewhere.act(r.id, 'approve', 'dana (admin)')).action.until!;
  };
  await drive(s, 60, stuffing);
  assert.equal(reports.race, null, 'the proposal was renewed and the approval raced it');
  assert.ok((await s.plane.read()).blocks.has(ATTACKER), 'the approved block is in force');
  const now = (await s.reports.get(r.id))!;
  assert.equal(now.status, 'actioned', 'the report says the approved action is in force');
  assert.equal(now.action.applied, true);
  assert.equal(now.action.until, approvedUntil);
  const ep = s.analyzer.client(ATTACKER)!.decision.episode!;
  assert.ok(ep.applied && !ep.pending, 'the approved block is the episode’s action');
  assert.equal(ep.until, approvedUntil);
});
