/**
 * The analyzer's load loop against the in-memory control plane with an injected clock: what it
 * writes to `rw:ctl:load`, when (changes only, refreshes before `until`), with which reason, how it
 * recovers, resumes and retries — and that the sidecar's control state applies what it writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { MemoryControlPlane, type Unsequenced } from '../../../models/controlPlane.js';
import { decodeControlMessage, type ControlKind, type LoadValue } from '../../../models/control.js';
import { LoadControlLoop, loadTtlMs } from '../../../analyzer/load/loadControlLoop.js';
import { getLoad } from '../../../analyzer/load/index.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { events, loadPolicy } from './fixtures.js';

const T0 = 1_700_000_000_000;

/** A control plane that records the load writes and can be made to fail. */
class RecordingPlane extends MemoryControlPlane {
  writes: Array<{ field: string; value: LoadValue | null; at: number }> = [];
  failing = false;
  now = 0;
  override async write<K extends ControlKind>(kind: K, field: string, value: Unsequenced<K> | null): Promise<number> {
    if (this.failing) throw new Error('Redis is down');
    if (kind === 'load') this.writes.push({ field, value: value as LoadValue | null, at: this.now });
    return super.write(kind, field, value);
  }
}

function setup(load?: string) {
  const plane = new RecordingPlane();
  let now = T0;
  const registry = new Registry();
  const loop = new LoadControlLoop({ policy: loadPolicy(load), plane, clock: () => now, registry });
  /** One second of traffic completing by `now` + 1 s with this p99-ish latency, then a tick (the watcher buckets by completion time). */
  const second = async (latencyMs: number, n = 300, status = 200): Promise<void> => {
    loop.observe(events(n, now - latencyMs, 1_000, (i) => ({ latencyMs, status, tier: i % 10 < 6 ? 'free' : i % 10 < 9 ? 'pro' : 'enterprise' })));
    now += 1_000;
    plane.now = now;
    await loop.tick(now);
  };
  return { plane, loop, registry, second, now: () => now, setNow: (t: number) => ((now = t), (plane.now = t)) };
}

test('a p99 past its target publishes a lower multiplier with since, until, tiers and the reason', async () => {
  const { plane, second, now } = setup();
  await second(400);
  assert.equal(plane.writes.length, 1);
  const { field, value } = plane.writes[0]!;
  assert.equal(field, 'shop');
  assert.equal(value!.multiplier, 0.8);
  assert.equal(value!.since, now());
  assert.equal(value!.until, now() + loadTtlMs(1_000));
  assert.equal(loadTtlMs(1_000), 5_000);
  assert.match(value!.reason, /^tighten ×0\.8: p99 \d+ms > target 250ms — free ×0\.67/);
  assert.equal(value!.tiers!.enterprise, 1);
  assert.ok(value!.tiers!.free! < 1);
});

test('nothing is written while the service is healthy and untouched', async () => {
  const { plane, second } = setup();
  for (let i = 0; i < 5; i++) await second(30);
  assert.equal(plane.writes.length, 0);
});

test('an unchanged multiplier is only refreshed, every half TTL, keeping since and reason and pushing until', async () => {
  const { plane, second } = setup();
  await second(400);
  const first = plane.writes[0]!.value!;
  // within the band: the controller holds
  for (let i = 0; i < 6; i++) await second(240);
  const refreshes = plane.writes.slice(1);
  assert.equal(refreshes.length, 2, `writes at ${plane.writes.map((w) => w.at - T0)}`);
  for (const r of refreshes) {
    assert.equal(r.value!.multiplier, first.multiplier);
    assert.equal(r.value!.since, first.since);
    assert.equal(r.value!.reason, first.reason);
    assert.equal(r.value!.until, r.at + 5_000);
  }
});

test('recovery is gradual, ends with one "recovered" value at 1, and then writes stop', async () => {
  const { plane, second } = setup();
  for (let i = 0; i < 10; i++) await second(600);
  assert.equal(plane.writes.at(-1)!.value!.multiplier, 0.2);
  const mark = plane.writes.length;
  for (let i = 0; i < 30; i++) await second(50);
  const after = plane.writes.slice(mark).map((w) => w.value!);
  const ms = after.map((v) => v.multiplier);
  for (let i = 1; i < ms.length; i++) assert.ok(ms[i]! - ms[i - 1]! <= 0.05 + 1e-9, `jump ${ms[i - 1]} → ${ms[i]}`);
  assert.equal(ms.at(-1), 1);
  assert.match(after.at(-1)!.reason, /^recovered ×1: p99 \d+ms ≤ 250ms/);
  assert.deepEqual(after.at(-1)!.tiers, { free: 1, pro: 1, enterprise: 1 });
  const count = plane.writes.length;
  for (let i = 0; i < 10; i++) await second(50);
  assert.equal(plane.writes.length, count, 'no refresh of an unrestricted value');
});

test('free is shed first: while the service multiplier falls, enterprise stays at 1 longest', async () => {
  const { plane, second } = setup();
  for (let i = 0; i < 4; i++) await second(600);
  const v = plane.writes.at(-1)!.value!;
  assert.ok(v.multiplier < 0.5);
  assert.equal(v.tiers!.free, 0.2);
  assert.equal(v.tiers!.enterprise, 1);
});

test('a failed write changes nothing published and is retried on the next interval', async () => {
  const { plane, second, loop, registry } = setup();
  plane.failing = true;
  await second(400);
  assert.equal(getLoad(loop).services[0]!.published, null);
  plane.failing = false;
  await second(400);
  assert.equal(plane.writes.length, 1);
  const errors = await registry.getSingleMetric('ratewarden_load_write_errors_total')!.get();
  assert.equal(errors.values[0]!.value, 1);
});

test('on start it resumes a multiplier still in force instead of jumping back to 1', async () => {
  const plane = new RecordingPlane();
  await plane.write('load', 'shop', { multiplier: 0.3, since: T0 - 5_000, reason: 'tighten ×0.3: p99 900ms > target 250ms', until: T0 + 3_000, tiers: { free: 0.2, pro: 0.3, enterprise: 1 } });
  await plane.write('load', 'old', { multiplier: 0.3, since: T0 - 60_000, reason: 'x', until: T0 - 1 });
  plane.writes = [];
  const loop = new LoadControlLoop({ policy: loadPolicy(), plane, clock: () => T0 });
  await loop.start();
  await loop.stop();
  const view = getLoad(loop);
  assert.deepEqual(view.services.map((s) => [s.service, s.multiplier]), [['shop', 0.3]]);
  assert.match(view.history[0]!.reason, /^resumed: tighten ×0\.3/);
  // no traffic: it keeps refreshing what is in force only while it holds it; recovery starts after the delay
  await loop.tick(T0 + 3_000);
  assert.ok(plane.writes.length >= 1);
  assert.ok(plane.writes[0]!.value!.multiplier >= 0.3);
});

test('getLoad lists each service with its multiplier, tiers, reason and signals, and the change history', async () => {
  const { second, loop } = setup();
  await second(400);
  await second(400);
  const view = getLoad(loop);
  assert.equal(view.enabled, true);
  assert.equal(view.ttlMs, 5_000);
  const s = view.services[0]!;
  assert.equal(s.service, 'shop');
  assert.equal(s.multiplier, 0.64);
  assert.equal(s.action, 'tighten');
  assert.ok(s.signals!.p99Ms! > 250);
  assert.equal(s.signals!.tierDemand.free, 180, 'the last second of demand');
  assert.deepEqual(view.history.map((h) => h.multiplier), [0.8, 0.64]);
  assert.deepEqual(Object.keys(loop.list()[0]!).sort(), ['multiplier', 'reason', 'service', 'ts']);
  assert.deepEqual(getLoad(null), { enabled: false, config: null, ttlMs: 0, services: [], history: [] });
});

test('the history is bounded, oldest dropped first', async () => {
  const plane = new RecordingPlane();
  let now = T0;
  const loop = new LoadControlLoop({ policy: loadPolicy(), plane, clock: () => now, historySize: 3 });
  for (let i = 0; i < 6; i++) {
    loop.observe(events(300, now, 1_000, () => ({ latencyMs: 600 })));
    now += 1_000;
    await loop.tick(now);
  }
  assert.equal(loop.history.size, 3);
  assert.equal(loop.history.dropped, 3);
  assert.deepEqual(loop.history.list().map((p) => p.multiplier), [0.4096, 0.3277, 0.2622]);
});

test('ratewarden_load_multiplier{service} follows the controller', async () => {
  const { second, registry } = setup();
  await second(400);
  const g = await registry.getSingleMetric('ratewarden_load_multiplier')!.get();
  assert.deepEqual(g.values.map((v) => [v.labels.service, v.value]), [['shop', 0.8]]);
});

test("the upstream's own gauges tighten when past their targets; a failed scrape only drops them", async () => {
  const plane = new RecordingPlane();
  let now = T0;
  let depth = 250;
  let up = true;
  const registry = new Registry();
  const loop = new LoadControlLoop({
    policy: loadPolicy('targets: { p99: 250ms }\n    metricsUrl: http://127.0.0.1:1/metrics\n    gauges: { queue_depth: 100 }'),
    plane,
    clock: () => now,
    registry,
    fetchText: async () => {
      if (!up) throw new Error('down');
      return `queue_depth ${depth}\n`;
    },
  });
  loop.observe(events(300, now, 1_000, () => ({ latencyMs: 20 })));
  now += 1_000;
  await loop.tick(now);
  assert.match(plane.writes[0]!.value!.reason, /queue_depth 250 > target 100/);
  up = false;
  depth = 10;
  loop.observe(events(300, now, 1_000, () => ({ latencyMs: 20 })));
  now += 1_000;
  await loop.tick(now);
  assert.equal((await registry.getSingleMetric('ratewarden_load_scrape_errors_total')!.get()).values[0]!.value, 1);
});

test('without analyzer.load the loop does nothing', async () => {
  const plane = new RecordingPlane();
  const policy = loadPolicy();
  const loop = new LoadControlLoop({ policy: { ...policy, analyzer: { ...policy.analyzer, load: null } }, plane, clock: () => T0 });
  loop.observe(events(300, T0, 1_000, () => ({ latencyMs: 900 })));
  await loop.start();
  await loop.tick(T0 + 1_000);
  assert.equal(loop.enabled, false);
  assert.equal(plane.writes.length, 0);
});

test("the sidecar's control state applies the published tiers and ignores the value once until has passed", async () => {
  const { plane, second, now } = setup();
  const state = new ControlState('shop');
  await plane.subscribe((raw) => {
    const m = decodeControlMessage(raw);
    if (m.ok) state.apply(m.value);
  }, () => undefined);
  for (let i = 0; i < 4; i++) await second(600);
  await new Promise((r) => setImmediate(r));
  const v = plane.writes.at(-1)!.value!;
  assert.equal(state.loadMultiplier('free', now()), v.tiers!.free);
  assert.equal(state.loadMultiplier('enterprise', now()), 1);
  assert.equal(state.loadMultiplier('unknown-tier', now()), v.multiplier);
  assert.equal(state.loadMultiplier('free', v.until!), 1, 'expired: a dead analyzer pins nothing');
});

test('a policy reload that turns analyzer.load on starts the ticking, one that turns it off stops it', async () => {
  const plane = new RecordingPlane();
  const policy = loadPolicy('targets: { p99: 250ms }\n    interval: 20ms');
  const off = { ...policy, analyzer: { ...policy.analyzer, load: null } };
  const loop = new LoadControlLoop({ policy: off, plane });
  await loop.start();
  loop.setPolicy(policy);
  const feed = setInterval(() => loop.observe(events(100, Date.now() - 20, 20, () => ({ latencyMs: 900 }))), 10);
  try {
    const deadline = Date.now() + 3_000;
    while (plane.writes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(plane.writes.length > 0, 'the loop ticked after the reload');
    loop.setPolicy(off);
    const count = plane.writes.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(plane.writes.length, count);
    assert.equal(loop.enabled, false);
  } finally {
    clearInterval(feed);
    await loop.stop();
  }
});

test('a reload with new targets keeps the multiplier in force and judges by the new targets', async () => {
  const { loop, second, plane } = setup();
  await second(400);
  assert.equal(plane.writes.at(-1)!.value!.multiplier, 0.8);
  loop.setPolicy(loadPolicy('targets: { p99: 1s }\n    minMultiplier: 0.2'));
  assert.equal(getLoad(loop).services[0]!.multiplier, 0.8);
  await second(400);
  assert.equal(getLoad(loop).services[0]!.action, 'hold', '400 ms is within a 1 s target but recovery waits');
});

test('without a new event since the last decision the loop holds instead of judging the same evidence again', async () => {
  const { plane, second, loop, setNow, now } = setup();
  await second(400);
  assert.equal(plane.writes.at(-1)!.value!.multiplier, 0.8);
  for (let i = 1; i <= 3; i++) await loop.tick(setNow(now() + 1_000)); // events lag: nothing new arrives
  assert.equal(getLoad(loop).services[0]!.multiplier, 0.8);
  assert.equal(plane.writes.length, 2, 'one refresh of until, no second tightening');
  assert.equal(plane.writes[1]!.value!.multiplier, 0.8);
});

test('a tier named constructor (valid in a policy) is published like any other tier', async () => {
  const r = parsePolicy(`version: 1
identity: { apiKey: { header: x-api-key } }
tiers: { free: {}, toString: { multiplier: 10 }, constructor: { multiplier: 100, shedPriority: 0 } }
rules:
  - { id: per-key, key: [apiKey], algorithm: token-bucket, rate: 100/s, burst: 100 }
analyzer:
  load:
    targets: { p99: 250ms }
`);
  assert.ok(r.ok);
  const plane = new RecordingPlane();
  const registry = new Registry();
  let now = T0;
  const loop = new LoadControlLoop({ policy: r.policy, plane, clock: () => now, registry });
  for (let s = 0; s < 3; s++) {
    loop.observe(events(300, now - 400, 1_000, (i) => ({ latencyMs: 400, tier: i % 10 < 6 ? 'free' : 'toString' }))); // no constructor traffic
    now += 1_000;
    plane.now = now;
    await loop.tick(now);
  }
  const v = (await plane.read()).load.get('shop');
  assert.ok(v, 'published to rw:ctl:load');
  assert.equal(plane.writes.length, 3);
  assert.equal(v.multiplier, 0.512);
  assert.deepEqual(Object.keys(v.tiers!).sort(), ['constructor', 'free', 'toString']);
  for (const m of Object.values(v.tiers!)) assert.ok(Number.isFinite(m) && m > 0 && m <= 1);
  assert.equal(v.tiers!.constructor, 1);
  assert.equal((await registry.getSingleMetric('ratewarden_load_write_errors_total')!.get()).values[0]?.value ?? 0, 0);
  const state = new ControlState('shop');
  state.replace(await plane.read());
  assert.equal(state.loadMultiplier('free', now), v.tiers!.free);
});

test('with a p99 target alone, timeouts and an outage tighten (errors are latency samples at the time they waited)', async () => {
  for (const share of [0.6, 1]) {
    const { second, plane, loop } = setup('targets: { p99: 250ms }');
    for (let s = 0; s < 3; s++) {
      // 504s after 10 s mixed with fast successes: fed by hand, the 504s complete now
      const slow = Math.round(300 * share);
      const t = (plane.now || T0);
      loop.observe(events(slow, t - 10_000, 1_000, () => ({ latencyMs: 10_000, status: 504 })));
      await second(40, 300 - slow);
    }
    const view = getLoad(loop).services[0]!;
    assert.equal(view.multiplier, 0.512, `share ${share}: ${view.reason}`);
    assert.match(view.reason!, /p99 \d+ms > target 250ms/);
  }
});

test('a reload that changes the interval changes the decision window (max(1 s, interval))', async () => {
  const plane = new RecordingPlane();
  let now = T0;
  const loop = new LoadControlLoop({ policy: loadPolicy('targets: { p99: 250ms }\n    interval: 5s'), plane, clock: () => now });
  assert.equal(loop.watcher.windowMs, 5_000);
  loop.setPolicy(loadPolicy('targets: { p99: 250ms }\n    interval: 1s'));
  assert.equal(loop.watcher.windowMs, 1_000);
  const actions: string[] = [];
  for (let s = 0; s < 5; s++) {
    const lat = s < 2 ? 400 : 30; // 2 s of overload, then healthy
    loop.observe(events(200, now - lat, 1_000, () => ({ latencyMs: lat })));
    now += 1_000;
    await loop.tick(now);
    actions.push(getLoad(loop).services[0]!.action!);
  }
  assert.deepEqual(actions, ['tighten', 'tighten', 'hold', 'recover', 'recover'], 'the 1 s window forgets the overload at once');
  loop.setPolicy(loadPolicy('targets: { p99: 250ms }\n    interval: 3s'));
  assert.equal(loop.watcher.windowMs, 3_000);
  loop.setPolicy(loadPolicy('targets: { p99: 250ms }\n    interval: 500ms'));
  assert.equal(loop.watcher.windowMs, 1_000, 'never under 1 s');
});

test('a resumed multiplier is refreshed before its until passes, not TTL/2 after the restart', async () => {
  const plane = new RecordingPlane();
  // the previous instance last wrote it 4.5 s before it died: until = T0 + 0.5 s
  await plane.write('load', 'shop', { multiplier: 0.4, since: T0 - 60_000, reason: 'tighten ×0.4: p99 400ms > target 250ms', until: T0 - 4_500 + loadTtlMs(1_000), tiers: { free: 0.4, pro: 1, enterprise: 1 } });
  plane.writes = [];
  let now = T0;
  plane.now = now;
  const loop = new LoadControlLoop({ policy: loadPolicy(), plane, clock: () => now });
  await loop.start();
  await loop.stop();
  assert.equal(plane.writes.length, 1, 'refreshed on resume');
  assert.equal(plane.writes[0]!.value!.until, T0 + loadTtlMs(1_000));
  assert.equal(plane.writes[0]!.value!.since, T0 - 60_000, 'a refresh keeps since');
  const sidecar = new ControlState('shop');
  for (let s = 1; s <= 6; s++) {
    loop.observe(events(300, now - 240, 1_000, () => ({ latencyMs: 240 }))); // within the hold band
    now += 1_000;
    plane.now = now;
    await loop.tick(now);
    sidecar.replace(await plane.read());
    assert.equal(sidecar.loadMultiplier('free', now), 0.4, `t+${s}s`);
  }
  // a value with most of its TTL left is not rewritten at once
  const fresh = new RecordingPlane();
  await fresh.write('load', 'shop', { multiplier: 0.4, since: T0 - 60_000, reason: 'x', until: T0 + 4_000, tiers: { free: 0.4 } });
  fresh.writes = [];
  const again = new LoadControlLoop({ policy: loadPolicy(), plane: fresh, clock: () => T0 });
  await again.start();
  await again.stop();
  assert.equal(fresh.writes.length, 0);
  assert.equal(getLoad(again).services[0]!.published!.writtenAt, T0 - 1_000, 'written at until − TTL');
});

async function samples(registry: Registry, name: string) {
  return (await registry.getSingleMetric(name)!.get()).values;
}

test('a reload that turns analyzer.load off removes the load gauges', async () => {
  const { second, registry, loop } = setup();
  for (let s = 0; s < 3; s++) await second(400);
  assert.equal((await samples(registry, 'ratewarden_load_multiplier')).length, 1);
  const policy = loadPolicy();
  loop.setPolicy({ ...policy, analyzer: { ...policy.analyzer, load: null } });
  assert.deepEqual(await samples(registry, 'ratewarden_load_multiplier'), []);
  assert.deepEqual(await samples(registry, 'ratewarden_load_tier_multiplier'), []);
  assert.deepEqual(await samples(registry, 'ratewarden_load_pressure'), []);
});

test('without a usable signal the pressure gauge goes, rather than holding the last overload', async () => {
  const { second, registry, loop } = setup();
  for (let s = 0; s < 2; s++) await second(900);
  assert.ok((await samples(registry, 'ratewarden_load_pressure'))[0]!.value > 1);
  await second(30, 5); // too little traffic to judge
  assert.equal(getLoad(loop).services[0]!.pressure!.value, null);
  assert.deepEqual(await samples(registry, 'ratewarden_load_pressure'), []);
  await second(30);
  assert.ok((await samples(registry, 'ratewarden_load_pressure'))[0]!.value < 1);
});

test('a reload that removes a tier removes its tier gauge', async () => {
  const { second, registry, loop } = setup();
  for (let s = 0; s < 3; s++) await second(400);
  assert.deepEqual((await samples(registry, 'ratewarden_load_tier_multiplier')).map((v) => v.labels.tier).sort(), ['enterprise', 'free', 'pro']);
  const r = parsePolicy(`version: 1\nidentity: { apiKey: { header: x-api-key } }\ntiers: { free: {}, enterprise: { shedPriority: 0 } }\nrules:\n  - { id: per-key, key: [apiKey], algorithm: token-bucket, rate: 100/s, burst: 100 }\nanalyzer:\n  load:\n    targets: { p99: 250ms, errorRate: 0.01 }\n`);
  assert.ok(r.ok);
  loop.setPolicy(r.policy);
  await second(400);
  assert.deepEqual((await samples(registry, 'ratewarden_load_tier_multiplier')).map((v) => v.labels.tier).sort(), ['enterprise', 'free']);
});
