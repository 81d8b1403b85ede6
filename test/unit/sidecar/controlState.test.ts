import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ControlMessage, ControlState as Loaded, OverrideValue, BlockValue, LoadValue } from '../../../models/control.js';
import { ControlState } from '../../../sidecar/control/controlState.js';

const NOW = 1_767_225_600_000;

function blockMsg(seq: number, field: string, value: Omit<BlockValue, 'seq'> | null): ControlMessage {
  return { v: 1, seq, kind: 'block', field, value: value === null ? null : { ...value, seq } };
}
function overrideMsg(seq: number, field: string, value: Omit<OverrideValue, 'seq'> | null): ControlMessage {
  return { v: 1, seq, kind: 'override', field, value: value === null ? null : { ...value, seq } };
}
function loadMsg(seq: number, field: string, value: Omit<LoadValue, 'seq'> | null): ControlMessage {
  return { v: 1, seq, kind: 'load', field, value: value === null ? null : { ...value, seq } };
}
function loaded(seq: number, parts: { blocks?: Array<[string, BlockValue]>; overrides?: Array<[string, OverrideValue]>; load?: Array<[string, LoadValue]> }): Loaded {
  return { seq, blocks: new Map(parts.blocks ?? []), overrides: new Map(parts.overrides ?? []), load: new Map(parts.load ?? []), invalid: [] };
}

describe('blocks', () => {
  test('a block applies to any of the request identities until its until', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(1, 'ip:10.0.0.1', { until: NOW + 1000, reason: 'scan' }));
    assert.equal(s.block(['apiKey:abc', 'ip:10.0.0.1'], NOW)?.reason, 'scan');
    assert.equal(s.block(['apiKey:abc', 'ip:10.0.0.2'], NOW), null);
  });

  test('until is honoured locally: an expired block no longer applies', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(1, 'ip:10.0.0.1', { until: NOW + 1000, reason: 'scan' }));
    assert.equal(s.block(['ip:10.0.0.1'], NOW + 1000), null);
  });

  test('an unblock (value null) removes the block', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(1, 'ip:10.0.0.1', { until: NOW + 1000, reason: 'scan' }));
    s.apply(blockMsg(2, 'ip:10.0.0.1', null));
    assert.equal(s.block(['ip:10.0.0.1'], NOW), null);
  });

  test('an older message never overwrites newer state, deletions included', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(5, 'ip:10.0.0.1', { until: NOW + 1000, reason: 'new' }));
    assert.equal(s.apply(blockMsg(3, 'ip:10.0.0.1', { until: NOW + 1000, reason: 'old' })), false);
    assert.equal(s.block(['ip:10.0.0.1'], NOW)?.reason, 'new');
    s.apply(blockMsg(7, 'ip:10.0.0.1', null));
    assert.equal(s.apply(blockMsg(6, 'ip:10.0.0.1', { until: NOW + 1000, reason: 'late' })), false);
    assert.equal(s.block(['ip:10.0.0.1'], NOW), null);
  });
});

describe('full loads', () => {
  test('a load replaces what it covers and drops fields deleted since', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(1, 'ip:a', { until: NOW + 1000, reason: 'a' }));
    s.apply(blockMsg(2, 'ip:b', { until: NOW + 1000, reason: 'b' }));
    s.replace(loaded(3, { blocks: [['ip:b', { until: NOW + 5000, reason: 'b2', seq: 3 }]] }));
    assert.equal(s.block(['ip:a'], NOW), null);
    assert.equal(s.block(['ip:b'], NOW)?.reason, 'b2');
    assert.equal(s.lastSeq, 3);
  });

  test('a message newer than the load survives it', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(10, 'ip:new', { until: NOW + 1000, reason: 'new' }));
    s.replace(loaded(8, {}));
    assert.equal(s.block(['ip:new'], NOW)?.reason, 'new');
    assert.equal(s.lastSeq, 10);
  });

  test('a deletion newer than the load is not undone by it', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(10, 'ip:x', null));
    s.replace(loaded(8, { blocks: [['ip:x', { until: NOW + 1000, reason: 'stale', seq: 4 }]] }));
    assert.equal(s.block(['ip:x'], NOW), null);
  });
});

describe('overrides', () => {
  test('the most specific override wins: rule|client, *|client, rule|*, *|*', () => {
    const s = new ControlState('svc');
    s.apply(overrideMsg(1, '*|*', { multiplier: 0.9, until: NOW + 1000, reason: 'all' }));
    assert.equal(s.override('r1', ['apiKey:k', 'ip:1.2.3.4'], NOW)?.multiplier, 0.9);
    s.apply(overrideMsg(2, 'r1|*', { multiplier: 0.8, until: NOW + 1000, reason: 'rule' }));
    assert.equal(s.override('r1', ['apiKey:k', 'ip:1.2.3.4'], NOW)?.multiplier, 0.8);
    assert.equal(s.override('r2', ['apiKey:k'], NOW)?.multiplier, 0.9);
    s.apply(overrideMsg(3, '*|ip:1.2.3.4', { multiplier: 0.5, until: NOW + 1000, reason: 'client' }));
    assert.equal(s.override('r1', ['apiKey:k', 'ip:1.2.3.4'], NOW)?.multiplier, 0.5);
    s.apply(overrideMsg(4, 'r1|apiKey:k', { limit: 7, until: NOW + 1000, reason: 'exact' }));
    assert.equal(s.override('r1', ['apiKey:k', 'ip:1.2.3.4'], NOW)?.limit, 7);
  });

  test('an expired override falls through to the next one', () => {
    const s = new ControlState('svc');
    s.apply(overrideMsg(1, 'r1|*', { multiplier: 0.8, until: NOW + 5000, reason: 'rule' }));
    s.apply(overrideMsg(2, 'r1|ip:1.2.3.4', { multiplier: 0.1, until: NOW + 1000, reason: 'short' }));
    assert.equal(s.override('r1', ['ip:1.2.3.4'], NOW + 2000)?.multiplier, 0.8);
    assert.equal(s.override('r1', ['ip:1.2.3.4'], NOW + 6000), null);
  });
});

describe('load multiplier', () => {
  test("the service's multiplier applies, per tier when given, until it expires", () => {
    const s = new ControlState('checkout');
    assert.equal(s.loadMultiplier('free', NOW), 1);
    s.apply(loadMsg(1, 'other', { multiplier: 0.1, since: NOW, reason: 'x' }));
    assert.equal(s.loadMultiplier('free', NOW), 1);
    s.apply(loadMsg(2, 'checkout', { multiplier: 0.5, since: NOW, reason: 'p99', until: NOW + 1000, tiers: { free: 0.2 } }));
    assert.equal(s.loadMultiplier('free', NOW), 0.2);
    assert.equal(s.loadMultiplier('pro', NOW), 0.5);
    assert.equal(s.loadMultiplier('pro', NOW + 1000), 1);
  });
});
