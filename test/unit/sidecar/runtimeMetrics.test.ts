/**
 * The runtime metrics read at scrape time (metrics.ts watchRuntime): gauges follow the engine, and
 * the store_*_total counters follow the engine's monotonic totals without ever going backwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSidecarMetrics, type RuntimeStoreStats } from '../../../sidecar/metrics.js';

async function values(text: Promise<string>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await text).split('\n')) {
    const m = /^(ratewarden_[a-z_]+) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('decisions per Redis call are exported as two counters that follow the engine totals and never go backwards', async () => {
  const metrics = createSidecarMetrics();
  let stats: RuntimeStoreStats = { keys: 3, storeCalls: 0, storeDecisions: 0 };
  metrics.watchRuntime({ inflight: 2, engine: { storeHealthy: () => true, stats: () => stats } });

  let v = await values(metrics.registry.metrics());
  assert.equal(v.get('ratewarden_store_calls_total'), 0);
  assert.equal(v.get('ratewarden_store_keys'), 3);
  assert.equal(v.get('ratewarden_inflight_requests'), 2);

  stats = { keys: 3, storeCalls: 4, storeDecisions: 40 };
  v = await values(metrics.registry.metrics());
  assert.equal(v.get('ratewarden_store_calls_total'), 4);
  assert.equal(v.get('ratewarden_store_decisions_total'), 40);

  // a scrape without new calls adds nothing
  v = await values(metrics.registry.metrics());
  assert.equal(v.get('ratewarden_store_decisions_total'), 40);

  // totals that restart (a rebuilt store) are added from zero, never subtracted
  stats = { keys: 0, storeCalls: 1, storeDecisions: 2 };
  v = await values(metrics.registry.metrics());
  assert.equal(v.get('ratewarden_store_calls_total'), 5);
  assert.equal(v.get('ratewarden_store_decisions_total'), 42);

  // an engine without a Redis store reports no totals: the counters stay where they are
  stats = { keys: 0 };
  v = await values(metrics.registry.metrics());
  assert.equal(v.get('ratewarden_store_calls_total'), 5);
});
