/**
 * The load watcher: per-service latency quantiles, error ratio and tier demand over a sliding
 * window of call events — counting only what reached the upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadWatcher } from '../../../analyzer/load/loadWatcher.js';
import { LatencySketch } from '../../../analyzer/load/latencySketch.js';
import { event, events } from './fixtures.js';

const T0 = 1_700_000_000_000;

test('p50 and p99 come within 5% of the exact quantiles', () => {
  const w = new LoadWatcher({ windowMs: 5_000 });
  // latencies 1..1000 ms, shuffled deterministically
  w.observe(events(1_000, T0, 4_000, (i) => ({ latencyMs: ((i * 7919) % 1_000) + 1 })));
  const s = w.signals('shop', T0 + 4_000);
  assert.equal(s.count, 1_000);
  assert.ok(Math.abs(s.p50Ms! - 500) / 500 <= 0.05, `p50 ${s.p50Ms}`);
  assert.ok(Math.abs(s.p99Ms! - 990) / 990 <= 0.05, `p99 ${s.p99Ms}`);
});

test('the error rate counts 5xx answers among forwarded requests', () => {
  const w = new LoadWatcher();
  w.observe(events(100, T0, 1_000, (i) => ({ status: i < 3 ? 502 : i < 5 ? 500 : 200 })));
  const s = w.signals('shop', T0 + 1_000);
  assert.equal(s.errorRate, 0.05);
});

test("requests the sidecar answered itself — rate limited, blocked, or shed by the adaptive limit — are no upstream signal", () => {
  const w = new LoadWatcher();
  w.observe(events(50, T0, 1_000, () => ({ latencyMs: 40 })));
  w.observe(events(30, T0, 1_000, () => ({ status: 429, decision: 'limited', latencyMs: 0.3 })));
  w.observe(events(20, T0, 1_000, () => ({ status: 503, decision: 'limited', rule: '@adaptive-concurrency', latencyMs: 5 })));
  w.observe(events(5, T0, 1_000, () => ({ status: 403, decision: 'blocked' })));
  const s = w.signals('shop', T0 + 1_000);
  assert.equal(s.count, 50);
  assert.equal(s.errorRate, 0);
  assert.ok(s.p50Ms! >= 38, `p50 ${s.p50Ms}`);
  assert.equal(s.tierDemand.free, 105, 'but every request is demand');
});

test('queued requests count for errors but not latency (their latency includes our own pacing delay)', () => {
  const w = new LoadWatcher();
  w.observe(events(40, T0, 1_000, () => ({ latencyMs: 20 })));
  w.observe(events(40, T0, 1_000, () => ({ decision: 'queued', latencyMs: 1_500 })));
  const s = w.signals('shop', T0 + 1_000);
  assert.equal(s.count, 80);
  assert.ok(s.p99Ms! < 25, `p99 ${s.p99Ms}`);
});

test('events leave the window as it slides', () => {
  const w = new LoadWatcher({ windowMs: 3_000 });
  w.observe(events(100, T0 - 500, 1_000, () => ({ latencyMs: 500 }))); // completing over [T0, T0 + 1 s)
  w.observe(events(100, T0 + 3_000, 1_000, () => ({ latencyMs: 10 })));
  const s = w.signals('shop', T0 + 3_999);
  assert.equal(s.count, 100);
  assert.ok(s.p99Ms! < 15);
});

test('an event older than the window when it arrives is counted as late and ignored', () => {
  const w = new LoadWatcher({ windowMs: 2_000 });
  w.add(event(T0 + 10_000));
  w.add(event(T0));
  assert.equal(w.late, 1);
  assert.equal(w.signals('shop', T0 + 10_000).count, 1);
});

test('services are kept apart, and past the cap new services are counted and dropped', () => {
  const w = new LoadWatcher({ maxServices: 2 });
  w.add(event(T0, { service: 'a', latencyMs: 10 }));
  w.add(event(T0, { service: 'b', latencyMs: 90 }));
  w.add(event(T0, { service: 'c' }));
  assert.equal(w.droppedServices, 1);
  assert.deepEqual(w.activeServices(T0 + 1).sort(), ['a', 'b']);
  assert.ok(w.signals('a', T0 + 1).p50Ms! < 11);
  assert.ok(w.signals('b', T0 + 1).p50Ms! > 85);
});

test('tier demand is counted per tier, distinct tiers per service capped into "other"', () => {
  const w = new LoadWatcher({ maxTiers: 2 });
  w.add(event(T0, { tier: 'free' }));
  w.add(event(T0, { tier: 'pro' }));
  w.add(event(T0, { tier: 'x' }));
  w.add(event(T0, { tier: 'y' }));
  assert.deepEqual(w.signals('shop', T0 + 1).tierDemand, { free: 1, pro: 1, other: 2 });
});

test('idle services are pruned', () => {
  const w = new LoadWatcher();
  w.add(event(T0));
  assert.equal(w.prune(T0 + 11 * 60_000), 1);
  assert.deepEqual(w.activeServices(T0 + 11 * 60_000), []);
});

test('an empty sketch has no quantile; merged sketches add up', () => {
  const a = new LatencySketch();
  assert.equal(a.quantile(0.99), null);
  a.add(10);
  const b = new LatencySketch();
  b.add(100);
  a.merge(b);
  assert.equal(a.count, 2);
  assert.ok(Math.abs(a.quantile(1)! - 100) <= 5);
});

test('the window follows the newest event, so consumer lag does not empty it, until the events are stale', () => {
  const w = new LoadWatcher({ windowMs: 1_000, staleMs: 10_000 });
  w.observe(events(100, T0 - 300, 1_000, () => ({ latencyMs: 300 }))); // completing over [T0, T0 + 1 s)
  const lagging = w.signals('shop', T0 + 4_000); // the events arrive 3 s late
  assert.equal(lagging.count, 100);
  assert.equal(lagging.at, T0 + 990, 'the newest completion time');
  assert.deepEqual(w.activeServices(T0 + 4_000), ['shop']);
  const stale = w.signals('shop', T0 + 12_000);
  assert.equal(stale.count, 0);
  assert.equal(stale.at, T0 + 12_000);
  assert.deepEqual(w.activeServices(T0 + 12_000), []);
});

test('slots are a twentieth of the window, at least 250 ms', () => {
  assert.equal(new LoadWatcher({ windowMs: 1_000 }).slotMs, 250);
  assert.equal(new LoadWatcher({ windowMs: 60_000 }).slotMs, 3_000);
});

test('slow requests count where they complete: a 504 after a 3 s upstream timeout is overload evidence, not a late event', () => {
  const w = new LoadWatcher({ windowMs: 1_000 }); // the control loop's default: max(1 s, interval)
  // every 100 ms: 9 fast requests complete, and one that arrived 3 s ago times out (published now, at completion)
  for (let t = T0; t < T0 + 10_000; t += 100) {
    const batch = [];
    for (let k = 0; k < 9; k++) batch.push(event(t - 10, { latencyMs: 10 }));
    batch.push(event(t - 3_000, { latencyMs: 3_000, status: 504 }));
    w.observe(batch);
  }
  const s = w.signals('shop', T0 + 10_000);
  assert.equal(w.late, 0);
  assert.equal(s.count, 100);
  assert.equal(s.errorRate, 0.1);
});

test('slow successful requests raise p99 in the window they complete in', () => {
  const w = new LoadWatcher({ windowMs: 1_000 });
  for (let t = T0; t < T0 + 5_000; t += 100) w.observe([event(t - 10, { latencyMs: 10 }), event(t - 2_000, { latencyMs: 2_000 })]);
  const s = w.signals('shop', T0 + 5_000);
  assert.equal(w.late, 0);
  assert.ok(s.p99Ms! > 1_900, `p99 ${s.p99Ms}`);
});

test('an event far ahead of the clock is ignored and counted, and makes no other event late, in any service', () => {
  const w = new LoadWatcher({ windowMs: 1_000, clock: () => T0 + 1_000 });
  const control = new LoadWatcher({ windowMs: 1_000, clock: () => T0 + 1_000 });
  for (const x of [w, control]) x.observe(events(100, T0, 1_000, () => ({ latencyMs: 10 })));
  w.add(event(T0 + 365 * 86_400_000, { service: 'other' }));
  w.add(event(T0 + 365 * 86_400_000));
  assert.equal(w.future, 2);
  for (const x of [w, control]) x.observe(events(100, T0 + 1_000, 1_000, () => ({ latencyMs: 900 })));
  assert.equal(w.late, 0);
  const s = w.signals('shop', T0 + 2_000);
  assert.deepEqual(s, control.signals('shop', T0 + 2_000), 'the signal is the one without the future events');
  assert.ok(s.count >= 50 && s.p99Ms! > 850, `count ${s.count}, p99 ${s.p99Ms}`);
  assert.deepEqual(w.activeServices(T0 + 2_000), ['shop']);
});

test('lateness is judged per service: one service ahead (a skewed sidecar, within bounds) makes no other service late', () => {
  const w = new LoadWatcher({ windowMs: 1_000, clock: () => T0 });
  w.add(event(T0 + 30_000, { service: 'ahead' }));
  w.observe(events(50, T0, 1_000, () => ({ latencyMs: 10 })));
  assert.equal(w.late, 0);
  assert.equal(w.signals('shop', T0 + 1_000).count, 50);
});

test('tier demand counts tiers named like Object.prototype members (constructor, toString…) as plain tiers', () => {
  const w = new LoadWatcher();
  for (const tier of ['constructor', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'free']) w.add(event(T0, { tier }));
  const d = w.signals('shop', T0 + 1).tierDemand;
  assert.deepEqual(d, { constructor: 2, toString: 1, valueOf: 1, hasOwnProperty: 1, isPrototypeOf: 1, free: 1 });
  assert.equal(Object.hasOwn(w.signals('shop', T0 + 1).tierDemand, 'pro'), false);
});

test('answers the sidecar gave itself (selfAnswered: draining 503, 400/401/413, a shed) are demand but no upstream signal', () => {
  const w = new LoadWatcher();
  w.observe(events(50, T0, 1_000, () => ({ latencyMs: 40 })));
  const self = (over: Parameters<typeof event>[1]) => events(10, T0, 1_000, () => over).map((e) => ({ ...e, selfAnswered: true }));
  w.observe(self({ status: 503, latencyMs: 0.5 })); // draining: decision allowed
  w.observe(self({ status: 400, latencyMs: 0.2 }));
  w.observe(self({ status: 401, latencyMs: 0.2 }));
  w.observe(self({ status: 413, latencyMs: 0.2 }));
  w.observe(self({ status: 503, decision: 'limited', rule: '@adaptive-concurrency', latencyMs: 2 }));
  const s = w.signals('shop', T0 + 1_000);
  assert.equal(s.count, 50);
  assert.equal(s.errorRate, 0);
  assert.ok(s.p50Ms! >= 38, `p50 ${s.p50Ms}`);
  assert.equal(s.tierDemand.free, 100, 'every request is demand');
});

test('a failed request is a latency sample at the time it waited: timeouts raise p99 without an errorRate target', () => {
  const w = new LoadWatcher({ windowMs: 1_000 });
  for (let t = T0; t < T0 + 3_000; t += 100) {
    const batch = [];
    for (let k = 0; k < 4; k++) batch.push(event(t - 40, { latencyMs: 40 }));
    for (let k = 0; k < 6; k++) batch.push(event(t - 10_000, { latencyMs: 10_000, status: 504 }));
    w.observe(batch);
  }
  const s = w.signals('shop', T0 + 3_000);
  assert.equal(s.count, 100);
  assert.equal(s.errorRate, 0.6);
  assert.ok(s.p99Ms! >= 9_500, `p99 ${s.p99Ms}`);
  assert.ok(s.p50Ms! >= 9_500, `p50 ${s.p50Ms}`);
  // a total outage: every request a 502 after 3 s is not "no latency sample"
  const down = new LoadWatcher({ windowMs: 1_000 });
  down.observe(events(100, T0 - 3_000, 1_000, () => ({ latencyMs: 3_000, status: 502 })));
  assert.ok(down.signals('shop', T0 + 1_000).p99Ms! >= 2_850);
  // queued errors stay out of the latency (their latency includes our own pacing)
  const q = new LoadWatcher();
  q.observe(events(40, T0, 1_000, () => ({ decision: 'queued', status: 503, latencyMs: 1_500 })));
  assert.equal(q.signals('shop', T0 + 1_000).p99Ms, null);
});

test('one event stamped 50 s ahead (a sidecar clock ahead, within bounds) does not make the service blind', () => {
  let now = T0;
  const w = new LoadWatcher({ windowMs: 1_000, clock: () => now });
  for (let s = 0; s < 6; s++) {
    now += 1_000;
    // the last second's requests, completed by now, as they arrive
    const batch = events(300, now - 1_400, 1_000, () => ({ latencyMs: 400 }));
    if (s === 2) batch.unshift(event(now + 50_000, { latencyMs: 10 }));
    w.observe(batch);
    const sig = w.signals('shop', now);
    // (at least the three slots of the window before the clock's: the window is read to the slot)
    assert.ok(sig.count >= 225, `second ${s}: ${sig.count} requests in the window`);
    assert.ok(sig.at <= now, 'the anchor is never ahead of the clock');
  }
  assert.equal(w.late, 0);
  assert.equal(w.ahead, 1);
  assert.equal(w.future, 0);
});

test('one pod of ten with its clock 3 s ahead: its events still count, and no other pod is late', () => {
  let now = T0;
  const w = new LoadWatcher({ windowMs: 1_000, clock: () => now });
  for (let s = 0; s < 5; s++) {
    // interleaved arrival over the second, every pod's i-th request completing as it arrives
    for (let i = 0; i < 15; i++) {
      now += 66;
      for (let pod = 0; pod < 10; pod++) w.add({ ...event(now + (pod === 9 ? 3_000 : 0) - 400, { latencyMs: 400 }), pod: `pod-${pod}` });
    }
    now += 10;
    assert.equal(w.signals('shop', now).count, 150, `second ${s}`);
  }
  assert.equal(w.late, 0);
  assert.equal(w.ahead, 5 * 15, "pod-9's events, counted as completing now");
});
