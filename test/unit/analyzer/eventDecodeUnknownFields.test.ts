/**
 * Unknown fields of a CallEvent (models/events.ts) are tolerated (a newer sidecar may add some) but
 * not kept: the analyzer holds decoded events while a client's snapshot is looked up (≤ 200,000
 * events, "≈ 300 B each", analyzer/README.md), so an event padded with 60 KB of unknown fields must
 * not cost 60 KB there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCallEvent } from '../../../models/events.js';

const BASE = { v: 1, ts: 1_700_000_000_000, pod: 'p', service: 's', method: 'GET', route: '/x', status: 200, latencyMs: 1, bytesIn: 0, bytesOut: 10, ip: '10.0.0.1', client: 'ip:10.0.0.1', user: null, uaHash: null, decision: 'allowed', rule: null, cost: 1 };

test('unknown fields are accepted but not kept in the decoded event', () => {
  const d = decodeCallEvent(JSON.stringify({ ...BASE, tier: 'pro', selfAnswered: true, future: 'x'.repeat(60_000), nested: { a: [1, 2, 3] } }));
  assert.ok(d.ok);
  assert.equal('future' in d.value, false);
  assert.equal('nested' in d.value, false);
  assert.ok(JSON.stringify(d.value).length < 1_000, 'the decoded event is the size of its known fields');
  assert.equal(d.value.tier, 'pro', 'extensions of the contract are kept');
  assert.equal(d.value.selfAnswered, true);
  assert.deepEqual(d.value, { ...BASE, tier: 'pro', selfAnswered: true });
});

test('an own "__proto__" field is not carried along', () => {
  const d = decodeCallEvent(`{"__proto__":{"polluted":true},${JSON.stringify(BASE).slice(1)}`);
  assert.ok(d.ok);
  assert.equal(Object.hasOwn(d.value, '__proto__'), false);
  assert.equal((d.value as unknown as { polluted?: boolean }).polluted, undefined);
});

test('optional extensions stay absent when absent', () => {
  const d = decodeCallEvent(JSON.stringify(BASE));
  assert.ok(d.ok);
  assert.equal('tier' in d.value, false);
  assert.equal('selfAnswered' in d.value, false);
});
