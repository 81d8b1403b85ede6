import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { cleanNote, transition } from '../../../analyzer/api/transitions.js';

function report(status: AnomalyReport['status'], kind: 'observe' | 'tighten' | 'block', applied: boolean): AnomalyReport {
  return { v: 1, id: 'a1', ts: 1, client: 'ip:1.2.3.4', window: { start: 0, end: 1, sizeMs: 1 }, score: 0.9, detectors: {}, explanation: [], summary: 's', action: { kind, applied }, status, history: [] };
}

test('dismissing an actioned block lifts it and records who dismissed it', () => {
  const t = transition(report('actioned', 'block', true), 'dismiss', 'alice (admin)', 42, 'false alarm');
  assert.deepEqual(t, { ok: true, status: 'dismissed', effect: 'lift', entry: { ts: 42, who: 'alice (admin)', what: 'dismissed', note: 'false alarm' } });
});

test('confirming an actioned anomaly keeps its action', () => {
  const t = transition(report('actioned', 'tighten', true), 'confirm', 'admin', 1);
  assert.ok(t.ok && t.status === 'confirmed' && t.effect === 'none');
});

test('approving a pending block applies it and marks the report actioned', () => {
  const t = transition(report('pending', 'block', false), 'approve', 'admin', 1);
  assert.ok(t.ok && t.status === 'actioned' && t.effect === 'apply' && t.entry.what === 'approved');
});

test('approve is refused unless the report is pending, and a dismissed report cannot be dismissed again', () => {
  for (const s of ['open', 'actioned', 'confirmed', 'dismissed', 'expired'] as const) assert.equal(transition(report(s, 'block', true), 'approve', 'admin', 1).ok, false, s);
  assert.equal(transition(report('dismissed', 'block', true), 'dismiss', 'admin', 1).ok, false);
});

test('dismissing a pending (never applied) action lifts nothing', () => {
  const t = transition(report('pending', 'block', false), 'dismiss', 'admin', 1);
  assert.ok(t.ok && t.effect === 'none');
});

test('notes lose control characters and are bounded', () => {
  assert.equal(cleanNote('a\u001b[31mb\n'), 'a [31mb');
  assert.equal(cleanNote('a\u009b31mb \u202eevil'), 'a 31mb  evil'); // C1 CSI and a bidi override
  assert.equal(cleanNote('   '), undefined);
  assert.equal(cleanNote('x'.repeat(2000))!.length, 1024);
});
