/**
 * Redis going back in time without being wiped: a failover to a replica that had not received the
 * last writes (asynchronous replication), or a restart from an AOF/RDB that lost its tail. The seq
 * counter goes back a little; the sidecar must not keep what Redis no longer has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockValue, ControlMessage, ControlState as Loaded, OverrideValue } from '../../../models/control.js';
import { ControlState } from '../../../sidecar/control/controlState.js';

const NOW = 1_767_225_600_000;

function blockMsg(seq: number, field: string, value: Omit<BlockValue, 'seq'> | null): ControlMessage {
  return { v: 1, seq, kind: 'block', field, value: value === null ? null : { ...value, seq } };
}
function overrideMsg(seq: number, field: string, value: Omit<OverrideValue, 'seq'> | null): ControlMessage {
  return { v: 1, seq, kind: 'override', field, value: value === null ? null : { ...value, seq } };
}
function loaded(seq: number, parts: { blocks?: Array<[string, BlockValue]>; overrides?: Array<[string, OverrideValue]> }): Loaded {
  return { seq, blocks: new Map(parts.blocks ?? []), overrides: new Map(parts.overrides ?? []), load: new Map(), invalid: [] };
}

test('a block Redis lost in a failover is dropped by the next load, though its seq is above the seq that load read', () => {
  const s = new ControlState('svc');
  s.replace(loaded(900, {})); // the last periodic load
  s.apply(blockMsg(1000, 'ip:10.0.0.9', { until: NOW + 600_000, reason: 'lost in the failover' }));
  // the new master never got writes 996..1000; the reconnect load reads it
  const mark = s.beginLoad();
  s.replace(loaded(995, {}), mark);
  assert.equal(s.block(['ip:10.0.0.9'], NOW), null, 'Redis has no such block: the sidecar must not enforce it');
});

test('after a failover, new writes at seqs the lost ones had used are applied, not ignored', () => {
  const s = new ControlState('svc');
  s.replace(loaded(900, {}));
  s.apply(overrideMsg(999, '*|*', { multiplier: 0.1, until: NOW + 3_600_000, reason: 'lost' }));
  const mark = s.beginLoad();
  s.replace(loaded(990, {}), mark); // reconnect load on the new master
  // the analyzer writes again on the new master: 991 is above everything Redis has
  assert.equal(s.apply(overrideMsg(991, '*|*', { multiplier: 0.9, until: NOW + 3_600_000, reason: 'after failover' })), true);
  assert.equal(s.override('r', ['ip:1.2.3.4'], NOW)?.multiplier, 0.9);
  // and a later load that reads it keeps it
  s.replace(loaded(991, { overrides: [['*|*', { multiplier: 0.9, until: NOW + 3_600_000, reason: 'after failover', seq: 991 }]] }), s.beginLoad());
  assert.equal(s.override('r', ['ip:1.2.3.4'], NOW)?.multiplier, 0.9);
});

test('a block written while the load that finds Redis wiped is in flight survives that load', () => {
  const s = new ControlState('svc');
  s.replace(loaded(500, { blocks: [['ip:old', { until: NOW + 1000, reason: 'old', seq: 400 }]] }));
  const mark = s.beginLoad();
  // Redis restarted empty; the load's GET seq read nothing, then the analyzer wrote a block (a fresh
  // counter starts at the server's time in ms), whose message arrived before the load's reply
  const fresh = NOW;
  s.apply(blockMsg(fresh, 'ip:new', { until: NOW + 60_000, reason: 'written during the load' }));
  s.replace(loaded(0, {}), mark);
  assert.equal(s.resets, 1);
  assert.equal(s.block(['ip:old'], NOW), null);
  assert.equal(s.block(['ip:new'], NOW)?.reason, 'written during the load');
});
