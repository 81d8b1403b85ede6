import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ControlMessage, ControlState as Loaded, OverrideValue, BlockValue, LoadValue } from '../../../models/control.js';
import { ControlState, TOMBSTONE_GRACE_MS } from '../../../sidecar/control/controlState.js';

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

  test('a deletion is remembered past the load that covers it: a late older message does not bring the block back', () => {
    // Cluster: block (11) and unblock (12) delivered out of order, with a full load at 12 in between
    const s = new ControlState('svc');
    s.replace(loaded(10, {}), undefined, 0);
    s.apply(blockMsg(12, 'ip:f', null), 1);
    s.replace(loaded(12, {}), undefined, 2);
    assert.equal(s.apply(blockMsg(11, 'ip:f', { until: NOW + 1000, reason: 'late' }), 3), false);
    assert.equal(s.block(['ip:f'], NOW), null);
    // the deletion is forgotten once a load covers it and the grace has passed: memory stays bounded
    s.replace(loaded(12, {}), undefined, 2 + TOMBSTONE_GRACE_MS);
    assert.equal(s.apply(blockMsg(11, 'ip:f', { until: NOW + 1000, reason: 'very late' }), 3 + TOMBSTONE_GRACE_MS), true);
  });

  test('a field a load deleted keeps its seq: an even older late message is still refused', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(5, 'ip:g', { until: NOW + 1000, reason: 'held' }), 0);
    s.replace(loaded(9, {}), undefined, 1); // deleted by a write between 5 and 9
    assert.equal(s.block(['ip:g'], NOW), null);
    assert.equal(s.apply(blockMsg(4, 'ip:g', { until: NOW + 1000, reason: 'older' }), 2), false);
    assert.equal(s.block(['ip:g'], NOW), null);
  });

  test('a block a message set after the load began survives that load even at the same seq (Cluster: seq read before the HSET landed)', () => {
    const s = new ControlState('svc');
    s.replace(loaded(10, {}));
    const mark = s.beginLoad();
    s.apply(blockMsg(11, 'ip:g', { until: NOW + 1000, reason: 'new' }));
    s.replace(loaded(11, {}), mark); // read seq 11, but HGETALL ran before write 11's HSET
    assert.equal(s.block(['ip:g'], NOW)?.reason, 'new');
    // the next load, begun after the message, is the truth again
    const next = s.beginLoad();
    s.replace(loaded(11, {}), next);
    assert.equal(s.block(['ip:g'], NOW), null);
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

describe('Redis losing its state', () => {
  test('a load whose seq is lower than the last load\'s replaces everything: new writes at low seqs count again', () => {
    const s = new ControlState('svc');
    s.replace(loaded(500, { blocks: [['ip:old', { until: NOW + 1000, reason: 'before the wipe', seq: 480 }]] }));
    s.apply(blockMsg(501, 'ip:f', { until: NOW + 1000, reason: 'held at 501' }));
    s.apply(blockMsg(502, 'ip:g', null));
    // Redis restarted empty; the analyzer wrote seq 1 and 2 since
    assert.equal(s.apply(blockMsg(2, 'ip:f', { until: NOW + 1000, reason: 'after' })), false);
    s.replace(loaded(2, { blocks: [['ip:f', { until: NOW + 1000, reason: 'after', seq: 2 }]] }));
    assert.equal(s.resets, 1);
    assert.equal(s.lastSeq, 2);
    assert.equal(s.block(['ip:old'], NOW), null);
    assert.equal(s.block(['ip:f'], NOW)?.reason, 'after');
    // the tombstone at 502 is gone with the rest: a new block on g at seq 3 applies
    assert.equal(s.apply(blockMsg(3, 'ip:g', { until: NOW + 1000, reason: 'new' })), true);
    assert.equal(s.block(['ip:g'], NOW)?.reason, 'new');
    // a load at a seq below the messages' (they raced it) is not a reset
    s.apply(blockMsg(4, 'ip:h', { until: NOW + 1000, reason: 'h' }));
    s.replace(loaded(3, { blocks: [['ip:f', { until: NOW + 1000, reason: 'after', seq: 2 }], ['ip:g', { until: NOW + 1000, reason: 'new', seq: 3 }]] }));
    assert.equal(s.resets, 1);
    assert.equal(s.block(['ip:h'], NOW)?.reason, 'h');
  });
});

describe('composite client keys', () => {
  test('a block or override on apiKey:…|ip:… applies to a request with both, not to either alone', () => {
    const s = new ControlState('svc');
    s.apply(blockMsg(1, 'apiKey:9f86d081884c7d65|ip:10.1.2.3', { until: NOW + 1000, reason: 'pair' }));
    assert.equal(s.block(['apiKey:9f86d081884c7d65', 'ip:10.1.2.3'], NOW)?.reason, 'pair');
    assert.equal(s.block(['apiKey:9f86d081884c7d65', 'user:alice', 'ip:10.1.2.3'], NOW)?.reason, 'pair');
    assert.equal(s.block(['apiKey:9f86d081884c7d65', 'ip:10.9.9.9'], NOW), null);
    assert.equal(s.block(['ip:10.1.2.3'], NOW), null);
    s.apply(overrideMsg(2, 'r|apiKey:9f86d081884c7d65|ip:10.1.2.3', { limit: 1, until: NOW + 1000, reason: 'pair' }));
    s.apply(overrideMsg(3, 'r|apiKey:9f86d081884c7d65', { limit: 50, until: NOW + 1000, reason: 'key' }));
    // the composite is more specific than the key alone
    assert.equal(s.override('r', ['apiKey:9f86d081884c7d65', 'ip:10.1.2.3'], NOW)?.limit, 1);
    assert.equal(s.override('r', ['apiKey:9f86d081884c7d65', 'ip:10.9.9.9'], NOW)?.limit, 50);
    // removed: plain lookups again
    s.apply(blockMsg(4, 'apiKey:9f86d081884c7d65|ip:10.1.2.3', null));
    assert.equal(s.block(['apiKey:9f86d081884c7d65', 'ip:10.1.2.3'], NOW), null);
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

  test('a tier named like an Object.prototype member gets the service multiplier, not a function', () => {
    const s = new ControlState('checkout');
    s.apply(loadMsg(1, 'checkout', { multiplier: 0.5, since: NOW, reason: 'p99', tiers: { free: 0.2 } }));
    for (const tier of ['constructor', 'toString', 'valueOf', '__proto__', 'hasOwnProperty']) assert.equal(s.loadMultiplier(tier, NOW), 0.5, tier);
  });
});
