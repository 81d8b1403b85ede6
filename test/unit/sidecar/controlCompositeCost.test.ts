/**
 * Many blocks (an attack from many addresses) while the analyzer keeps adding more: a lookup after a
 * change must not rescan every block or override (it runs on the request path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockValue } from '../../../models/control.js';
import { ControlState } from '../../../sidecar/control/controlState.js';

const NOW = 1_767_225_600_000;

test('with 100 000 blocks, 2 000 changes each followed by a request cost far less than a rescan each', () => {
  const s = new ControlState('svc');
  const blocks = new Map<string, BlockValue>();
  for (let i = 0; i < 100_000; i++) blocks.set(`ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, { until: NOW + 600_000, reason: 'x', seq: 1 });
  s.replace({ seq: 1, blocks, overrides: new Map(), load: new Map(), invalid: [] });
  const t0 = performance.now();
  for (let i = 0; i < 2_000; i++) {
    s.apply({ v: 1, seq: 2 + i, kind: 'block', field: `ip:11.0.${i >> 8}.${i & 255}`, value: { until: NOW + 600_000, reason: 'y', seq: 2 + i } });
    assert.equal(s.block(['apiKey:0123456789abcdef', 'ip:1.2.3.4'], NOW), null);
    assert.equal(s.override('r', ['apiKey:0123456789abcdef', 'ip:1.2.3.4'], NOW), null);
  }
  const ms = performance.now() - t0;
  // about 2,970 ms with a rescan per change, tens of ms without: the bound leaves room for a loaded machine
  assert.ok(ms < 1_500, `${ms.toFixed(0)} ms for 2 000 changes and lookups`);
  // composites still found after all those changes
  s.apply({ v: 1, seq: 5_000, kind: 'block', field: 'apiKey:0123456789abcdef|ip:1.2.3.4', value: { until: NOW + 600_000, reason: 'pair', seq: 5_000 } });
  assert.equal(s.block(['apiKey:0123456789abcdef', 'ip:1.2.3.4'], NOW)?.reason, 'pair');
  s.apply({ v: 1, seq: 5_001, kind: 'block', field: 'apiKey:0123456789abcdef|ip:1.2.3.4', value: null });
  assert.equal(s.block(['apiKey:0123456789abcdef', 'ip:1.2.3.4'], NOW), null);
  s.apply({ v: 1, seq: 5_002, kind: 'override', field: 'r|apiKey:0123456789abcdef|ip:1.2.3.4', value: { limit: 1, until: NOW + 600_000, reason: 'pair', seq: 5_002 } });
  assert.equal(s.override('r', ['apiKey:0123456789abcdef', 'ip:1.2.3.4'], NOW)?.limit, 1);
  // a load that no longer has it removes it, and the lookup follows
  s.replace({ seq: 6_000, blocks: new Map(), overrides: new Map(), load: new Map(), invalid: [] }, s.beginLoad());
  assert.equal(s.override('r', ['apiKey:0123456789abcdef', 'ip:1.2.3.4'], NOW), null);
});
