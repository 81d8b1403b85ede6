/**
 * The clock stepping back (an NTP step, a VM restored from a snapshot): event times and the
 * analyzer's clock move back together. The watcher's window was anchored at the newest event before
 * the step, so every event after it was older than that anchor by more than a window and was dropped
 * as late, and the controller's last tightening lay in its future, so the recovery delay never
 * passed: for as long as the step (an hour here) load control neither saw an overload nor let a
 * tightened service recover.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { LoadControlLoop } from '../../../analyzer/load/loadControlLoop.js';
import { getLoad } from '../../../analyzer/load/index.js';
import { events, loadPolicy } from './fixtures.js';

const T0 = 1_700_000_000_000;
const STEP = 3_600_000;

function setup() {
  let now = T0;
  const plane = new MemoryControlPlane();
  const loop = new LoadControlLoop({ policy: loadPolicy(), plane, clock: () => now });
  return { loop, plane, now: () => now, advance: (ms: number) => (now += ms) };
}

test('after the clock steps back, a tightened service with a healthy backend recovers to 1 (not an hour later)', async () => {
  const { loop, plane, now, advance } = setup();
  loop.observe(events(300, now() - 900, 900, () => ({ latencyMs: 400 })));
  await loop.tick(advance(100));
  assert.ok(getLoad(loop).services[0]!.multiplier < 1, 'tightened on the overload');
  advance(-STEP);
  for (let i = 0; i < 40; i++) {
    loop.observe(events(100, now() - 900, 900, () => ({ latencyMs: 20 })));
    await loop.tick(advance(1_000));
    if (i === 0) {
      // the value written before the step has its `until` an hour ahead: refreshed at once, so a dead
      // analyzer could not pin it for longer than one TTL
      const until = (await plane.read()).load.get('shop')!.until!;
      assert.ok(until <= now() + loop.ttlMs, `until ${until - now()} ms ahead of the clock`);
    }
  }
  const s = getLoad(loop).services[0]!;
  assert.equal(s.multiplier, 1, `still ×${s.multiplier} (${s.reason})`);
  assert.equal(s.signals!.count >= 20, true, 'the healthy events after the step are seen, not dropped as late');
  const state = await plane.read();
  assert.equal(state.load.get('shop')!.multiplier, 1, 'the recovery is published');
});

test('after the clock steps back, an overload is seen and tightens', async () => {
  const { loop, now, advance } = setup();
  loop.observe(events(100, now() - 900, 900, () => ({ latencyMs: 20 })));
  await loop.tick(advance(100));
  assert.equal(getLoad(loop).services[0]!.multiplier, 1);
  advance(-STEP);
  for (let i = 0; i < 3; i++) {
    loop.observe(events(300, now() - 900, 900, () => ({ latencyMs: 400 })));
    await loop.tick(advance(1_000));
  }
  const s = getLoad(loop).services[0]!;
  assert.ok(s.multiplier < 1, `not tightened (×${s.multiplier}: ${s.reason})`);
  assert.match(s.reason!, /p99/);
});
