/**
 * `analyzer.allowlist` names a hybrid client as a set of identities: an entry written
 * `ip:…|apiKey:…` in the policy allowlists the client whose events carry `apiKey:…|ip:…` (the
 * sidecar's part order, apiKey, user, ip), and the other way round. It is reported, never acted on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { T0, ev, policy } from './helpers.js';

const KEY = '0123456789abcdef';

async function attack(allowlistEntry: string, client: string) {
  let now = T0;
  const plane = new MemoryControlPlane();
  const reports = new MemoryReportStore();
  const yaml = `analyzer:\n  allowlist: ["${allowlistEntry}"]\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`;
  const analyzer = new Analyzer({ policy: policy(yaml), controlPlane: plane, reports, clock: () => now, detection: { warmupMs: 60_000 } });
  const opened = [];
  for (let i = 0; i < 200; i++) {
    const t = now;
    const batch: CallEvent[] = [];
    for (let c = 0; c < 20; c++) if ((i + c) % 2 === 0) batch.push(ev({ ts: t + c * 10, client: `apiKey:${String(c).padStart(16, '0')}`, route: `/api/r${c % 4}`, ip: `10.0.0.${c}` }));
    if (i >= 180) for (let j = 0; j < 15; j++) batch.push(ev({ ts: t + j * 60, client, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));
    analyzer.ingest(batch);
    now = t + 1_000;
    opened.push(...(await analyzer.tick(now)).opened);
  }
  const first = opened.find((r) => r.client === client);
  return { report: first && (await reports.get(first.id)), state: await plane.read() };
}

for (const [entry, client] of [
  [`ip:203.0.113.9|apiKeyId:${KEY}`, `apiKey:${KEY}|ip:203.0.113.9`],
  [`apiKeyId:${KEY}|ip:203.0.113.9`, `ip:203.0.113.9|apiKey:${KEY}`],
  [`apiKeyId:${KEY}|ip:203.0.113.9`, `apiKey:${KEY}|ip:203.0.113.9`],
] as const) {
  test(`an allowlist entry ${entry} covers the client ${client}: reported, never acted on`, async () => {
    const { report, state } = await attack(entry, client);
    assert.ok(report, 'the attack is reported');
    assert.deepEqual([...state.blocks.keys()], [], 'not blocked');
    assert.deepEqual([...state.overrides.keys()], []);
    assert.equal(report.status, 'open');
    assert.equal(report.action.applied, false);
    assert.ok(report.history.some((h) => h.what === 'held_back' && /allowlisted/.test(h.note ?? '')), JSON.stringify(report.history));
  });
}
