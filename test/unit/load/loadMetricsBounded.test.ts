/**
 * The load controller's `service` label comes from the call events: a flood of distinct service
 * names must keep its series bounded (the watcher's cap), what does not fit must be counted, and the
 * series must go when the services do. Events the watcher cannot use (late, far future) are counted
 * too, as are batches the analyzer's load tap threw on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { LoadControlLoop } from '../../../analyzer/load/loadControlLoop.js';
import { loadControl } from '../../../analyzer/load/index.js';
import { startAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { metricValue, waitFor } from '../../helpers/proc.js';
import { event, loadPolicy } from './fixtures.js';

const T0 = 1_700_000_000_000;

/** Sample lines of `name` in an exposition (no HELP/TYPE lines). */
function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
}

test('a flood of distinct service names keeps the load series bounded, counts what was dropped, and the series go with the services', async () => {
  let now = T0;
  const registry = new Registry();
  const loop = new LoadControlLoop({ policy: loadPolicy('targets: { p99: 250ms }'), plane: new MemoryControlPlane(), clock: () => now, registry });
  const cap = loop.watcher.maxServices;
  assert.equal(cap, 256);
  const distinct = 10_000;
  // every event names a service never seen before, slow enough to tighten each one it keeps
  loop.observe(Array.from({ length: distinct }, (_, i) => event(now - 900, { service: `svc-${i}-${'x'.repeat(20)}`, latencyMs: 900, tier: 'free' })));
  now += 1_000;
  await loop.tick(now);

  let text = await registry.metrics();
  assert.equal(series(text, 'ratewarden_load_multiplier').length, cap, 'one load_multiplier series per service held, no more');
  assert.ok(series(text, 'ratewarden_load_pressure').length <= cap);
  assert.ok(series(text, 'ratewarden_load_tier_multiplier').length <= cap * 3, 'tiers are the policy\'s three');
  assert.equal(metricValue(text, 'ratewarden_load_events_dropped_total', { reason: 'service_cap' }), distinct - cap, 'every event of a service past the cap is counted');
  assert.equal(metricValue(text, 'ratewarden_load_services'), cap);

  // a second wave of new names changes nothing: still the cap, the rest counted
  loop.observe(Array.from({ length: 1_000 }, (_, i) => event(now - 10, { service: `other-${i}` })));
  await loop.tick(now + 500);
  text = await registry.metrics();
  assert.equal(series(text, 'ratewarden_load_multiplier').length, cap);
  assert.equal(metricValue(text, 'ratewarden_load_events_dropped_total', { reason: 'service_cap' }), distinct - cap + 1_000);

  // the services stop: their series go once their values expire (the loop forgets them every minute) …
  for (let t = 0; t < 4; t++) {
    now += 60_000;
    await loop.tick(now);
  }
  text = await registry.metrics();
  assert.equal(series(text, 'ratewarden_load_multiplier').length, 0, 'series of services gone are removed');
  assert.equal(series(text, 'ratewarden_load_pressure').length, 0);
  assert.equal(series(text, 'ratewarden_load_tier_multiplier').length, 0);
  // … and the watcher forgets them after 10 idle minutes, so a new service is tracked again
  for (let t = 0; t < 8; t++) {
    now += 60_000;
    await loop.tick(now);
  }
  assert.equal(metricValue(await registry.metrics(), 'ratewarden_load_services'), 0);
  loop.observe([event(now - 900, { service: 'late-comer', latencyMs: 900 })]);
  now += 1_000;
  await loop.tick(now);
  text = await registry.metrics();
  assert.deepEqual(
    series(text, 'ratewarden_load_multiplier').map((l) => /service="([^"]*)"/.exec(l)![1]),
    ['late-comer'],
  );
});

test('events the load watcher cannot use are counted by reason: late, far future; a clock ahead is counted and clamped', async () => {
  let now = T0;
  const registry = new Registry();
  const loop = new LoadControlLoop({ policy: loadPolicy('targets: { p99: 250ms }'), plane: new MemoryControlPlane(), clock: () => now, registry });
  loop.observe([event(now - 100)]); // completed 80 ms ago (latency 20 ms)
  loop.observe([event(now - 60_000)]); // a minute older than its service's newest: outside every window
  loop.observe([event(now + 5 * 60_000)]); // completing 5 minutes ahead of the analyzer's clock
  loop.observe([event(now + 2_000), event(now + 3_000)]); // a sidecar clock a few seconds ahead
  const text = await registry.metrics();
  assert.equal(metricValue(text, 'ratewarden_load_events_dropped_total', { reason: 'late' }), 1);
  assert.equal(metricValue(text, 'ratewarden_load_events_dropped_total', { reason: 'future' }), 1);
  assert.equal(metricValue(text, 'ratewarden_load_events_dropped_total', { reason: 'service_cap' }), 0, 'every reason is exported from the start');
  assert.equal(metricValue(text, 'ratewarden_load_events_clock_ahead_total'), 2);
  assert.equal(loop.watcher.signals('shop', now).count, 3, 'the clamped events still count');
});

test('a batch the load tap throws on is counted in ratewarden_load_tap_errors_total on the analyzer\'s /metrics', async () => {
  const bus = new MemoryEventBus();
  const load = loadControl();
  const analyzer = await startAnalyzer({
    policy: loadPolicy('targets: { p99: 250ms }'),
    source: load.tap(bus),
    controlPlane: new MemoryControlPlane(),
    reports: new MemoryReportStore(),
    listen: { host: '127.0.0.1', port: 0 },
    plugins: [load.plugin],
    model: null,
    logger: false,
  });
  try {
    const loop = load.loop()!;
    loop.observe = () => {
      throw new Error('a bug in the load loop');
    };
    bus.publish(event(Date.now()));
    bus.publish(event(Date.now()));
    await waitFor(() => load.tapErrors >= 1, 'the tap threw', 5_000);
    const text = await (await fetch(`${analyzer.address}/metrics`)).text();
    assert.equal(metricValue(text, 'ratewarden_load_tap_errors_total'), load.tapErrors);
    assert.ok((metricValue(text, 'ratewarden_events_consumed_total') ?? 0) >= 1, 'the analyzer still got the batch');
  } finally {
    await analyzer.close();
  }
});
