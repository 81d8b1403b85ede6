/**
 * A stored control-plane value that does not decode (a hand edit, a foreign or newer writer) is
 * counted and skipped by a load: the field keeps what the sidecar held, as a bad message would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockValue, ControlMessage, ControlState as Loaded } from '../../../models/control.js';
import { MemoryControlPlane, type ControlPlane } from '../../../models/controlPlane.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import { ControlPlaneSubscriber } from '../../../sidecar/control/subscriber.js';

const NOW = 1_767_225_600_000;

function blockMsg(seq: number, field: string, value: Omit<BlockValue, 'seq'>): ControlMessage {
  return { v: 1, seq, kind: 'block', field, value: { ...value, seq } };
}

test('a load with an undecodable value for a held block keeps the block', () => {
  const s = new ControlState('svc');
  s.apply(blockMsg(5, 'ip:10.0.0.1', { until: NOW + 60_000, reason: 'held' }));
  const load: Loaded = { seq: 9, overrides: new Map(), blocks: new Map(), load: new Map(), invalid: [{ kind: 'block', field: 'ip:10.0.0.1', error: 'block: until is missing' }] };
  s.replace(load, s.beginLoad());
  assert.equal(s.block(['ip:10.0.0.1'], NOW)?.reason, 'held');
});

test('through the subscriber: a corrupted stored block is counted and changes nothing', async () => {
  const inner = new MemoryControlPlane();
  const far = Date.now() + 3_600_000;
  await inner.write('block', 'ip:10.0.0.2', { until: far, reason: 'held' });
  let corrupt = false;
  const plane: ControlPlane = {
    write: (k, f, v) => inner.write(k, f, v),
    async read() {
      const st = await inner.read();
      if (!corrupt) return st;
      const blocks = new Map(st.blocks);
      blocks.delete('ip:10.0.0.2');
      return { ...st, blocks, invalid: [{ kind: 'block' as const, field: 'ip:10.0.0.2', error: 'block: reason is missing' }] };
    },
    subscribe: (m, r) => inner.subscribe(m, r),
    close: () => inner.close(),
  };
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'));
  await sub.start();
  assert.equal(sub.state.block(['ip:10.0.0.2'], Date.now())?.reason, 'held');
  corrupt = true;
  await sub.reload('interval');
  assert.equal(sub.badMessages, 1);
  assert.equal(sub.state.block(['ip:10.0.0.2'], Date.now())?.reason, 'held');
  await sub.close();
});
