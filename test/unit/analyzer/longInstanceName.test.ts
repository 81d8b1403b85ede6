/**
 * The analyzer signs report history `analyzer@<instance>` (RW_POD, else the hostname), and the codec
 * reads a history `who` of at most 128 characters. A pod name of 200 characters (Kubernetes allows
 * 253) used to make every report unreadable: the Redis store kept it (and the block was applied) but
 * get and list, which read through the codec, never returned it, so no operator could see or dismiss
 * it. The name is cut to fit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAnomalyReport, encodeAnomalyReport } from '../../../models/anomaly.js';
import type { CallEvent } from '../../../models/events.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { MemoryReportPublisher } from '../../../analyzer/reports/publisher.js';
import { T0, ev, policy } from './helpers.js';

const ATTACKER = 'ip:203.0.113.9';
const stuffing = (t: number): CallEvent[] => Array.from({ length: 15 }, (_, j) => ev({ ts: t + j * 60, client: ATTACKER, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));

test('an instance name past what a history entry holds still signs readable reports, and the block has its report', async () => {
  let now = T0;
  const plane = new MemoryControlPlane();
  const reports = new MemoryReportStore();
  const instance = 'ratewarden-analyzer-' + 'x'.repeat(180);
  const analyzer = new Analyzer({ policy: policy(`analyzer:\n  actions:\n    - { minScore: 0.9, action: block, ttl: 10m }\n`), controlPlane: plane, reports, publisher: new MemoryReportPublisher(), clock: () => now, detection: { warmupMs: 60_000 }, instance });
  const opened = [];
  for (let i = 0; i < 220; i++) {
    const t = now;
    const batch: CallEvent[] = [];
    for (let c = 0; c < 20; c++) if ((i + c) % 2 === 0) batch.push(ev({ ts: t + c * 10, client: `apiKey:${String(c).padStart(16, '0')}`, route: `/api/r${c % 4}`, ip: `10.0.0.${c}` }));
    if (i >= 180) batch.push(...stuffing(t));
    analyzer.ingest(batch);
    now = t + 1_000;
    opened.push(...(await analyzer.tick(now)).opened);
  }
  const mine = opened.filter((r) => r.client === ATTACKER);
  assert.equal(mine.length, 1);
  const stored = (await reports.get(mine[0]!.id))!;
  assert.ok(stored, 'the report is stored');
  const decoded = decodeAnomalyReport(encodeAnomalyReport(stored));
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
  assert.ok(stored.history.every((h) => h.who.startsWith('analyzer@ratewarden-analyzer-xxx') && h.who.length <= 128));
  assert.equal((await plane.read()).blocks.get(ATTACKER)?.anomalyId, stored.id);
  assert.equal(await analyzer.metrics.registry.getSingleMetricAsString('ratewarden_report_store_errors_total').then((t) => /_total 0$/m.test(t)), true);
});
