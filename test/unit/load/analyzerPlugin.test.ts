/**
 * The load loop plugged into the analyzer service (startAnalyzer, in-process, memory event bus and
 * control plane): events reach the loop through the tap, it tightens the service in the control
 * plane, exports ratewarden_load_multiplier on the analyzer's /metrics, and stops with the analyzer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { startAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { getLoad, loadControl, tapEvents } from '../../../analyzer/load/index.js';
import { metricValue, waitFor } from '../../helpers/proc.js';
import { events, loadPolicy } from './fixtures.js';

test('a throwing tap is counted and the analyzer still gets the batch', async () => {
  const bus = new MemoryEventBus();
  const seen: number[] = [];
  let errors = 0;
  const source = tapEvents(bus, () => {
    throw new Error('bug');
  }, () => errors++);
  bus.publish(events(1, Date.now(), 1)[0]!);
  const run = source.run(async (batch) => {
    seen.push(batch.length);
    await source.stop();
  });
  await run;
  assert.deepEqual(seen, [1]);
  assert.equal(errors, 1);
});

test('the analyzer with the load plugin tightens a slow service and exports its multiplier', async () => {
  const bus = new MemoryEventBus();
  const plane = new MemoryControlPlane();
  const load = loadControl();
  const analyzer = await startAnalyzer({
    policy: loadPolicy('targets: { p99: 250ms }\n    interval: 100ms'),
    source: load.tap(bus),
    controlPlane: plane,
    reports: new MemoryReportStore(),
    listen: { host: '127.0.0.1', port: 0 },
    plugins: [load.plugin],
    model: null,
    logger: false,
  });
  try {
    const feed = setInterval(() => {
      for (const e of events(50, Date.now() - 50, 50, () => ({ latencyMs: 900 }))) bus.publish(e);
    }, 50);
    try {
      await waitFor(async () => {
        const v = (await plane.read()).load.get('shop');
        return v !== undefined && v.multiplier < 1;
      }, 'a load multiplier below 1 in the control plane', 10_000);
    } finally {
      clearInterval(feed);
    }
    const view = getLoad(load.loop());
    assert.equal(view.enabled, true);
    assert.match(view.services[0]!.reason!, /p99 \d+ms > target 250ms/);
    const text = await (await fetch(`${analyzer.address}/metrics`)).text();
    assert.ok(metricValue(text, 'ratewarden_load_multiplier', { service: 'shop' })! < 1);
  } finally {
    await analyzer.close();
  }
  const writes = (await plane.read()).seq;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await plane.read()).seq, writes, 'no writes after close');
});
