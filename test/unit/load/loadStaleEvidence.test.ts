/**
 * With no event since the last decision the loop holds: the latency and error evidence in the window
 * was judged already, and judging it again each interval would tighten again and again on samples
 * from before the last cut — consumer lag (common under overload) is exactly when no event arrives.
 * That held only without `metricsUrl`: with gauges configured the loop judged the whole window again
 * every interval (the gauges are fresh), and a p99 past its target in that old window cut the
 * multiplier by 0.8 per interval until the service went stale. Now the scraped gauges are judged
 * (a gauge past its target still tightens, on fresh evidence), the old window is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { LoadControlLoop } from '../../../analyzer/load/loadControlLoop.js';
import { getLoad } from '../../../analyzer/load/index.js';
import { events, loadPolicy } from './fixtures.js';

const T0 = 1_700_000_000_000;

function setup() {
  let now = T0;
  let depth = 10;
  const plane = new MemoryControlPlane();
  const loop = new LoadControlLoop({
    policy: loadPolicy('targets: { p99: 250ms }\n    metricsUrl: http://127.0.0.1:1/metrics\n    gauges: { queue_depth: 100 }'),
    plane,
    clock: () => now,
    fetchText: async () => `queue_depth ${depth}\n`,
  });
  return {
    loop,
    plane,
    now: () => now,
    advance: (ms: number) => (now += ms),
    setDepth: (d: number) => void (depth = d),
  };
}

test('with gauges configured, no new event since the last decision still holds the latency verdict (no tightening on the same window again)', async () => {
  const { loop, advance, now } = setup();
  loop.observe(events(300, now() - 400, 1_000, () => ({ latencyMs: 400 })));
  await loop.tick(advance(1_000));
  assert.equal(getLoad(loop).services[0]!.multiplier, 0.8);
  for (let i = 0; i < 4; i++) await loop.tick(advance(1_000)); // events lag: nothing new arrives
  assert.equal(getLoad(loop).services[0]!.multiplier, 0.8, 'tightened again on the same 400 ms samples');
});

test('with no new event, a scraped gauge past its target still tightens (fresh evidence), and the reason names it', async () => {
  const { loop, advance, now, setDepth } = setup();
  loop.observe(events(300, now() - 400, 1_000, () => ({ latencyMs: 400 })));
  await loop.tick(advance(1_000));
  assert.equal(getLoad(loop).services[0]!.multiplier, 0.8);
  setDepth(300);
  await loop.tick(advance(1_000));
  const s = getLoad(loop).services[0]!;
  assert.equal(s.multiplier, 0.64);
  assert.match(s.reason!, /queue_depth 300 > target 100/);
  assert.doesNotMatch(s.reason!, /p99/);
});
