/**
 * The sidecar's control-plane subscriber counts what it does not apply: a message older than the
 * state held for its field (ignored: a later write or a load got there first) in
 * `ratewarden_control_stale_messages_total`, and a full load that failed (state kept, retried) in
 * `ratewarden_control_reload_errors_total`. Both were silent before (a log line at most).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane, type ControlPlane } from '../../../models/controlPlane.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import { ControlPlaneSubscriber } from '../../../sidecar/control/subscriber.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { metricValue, waitFor } from '../../helpers/proc.js';

const FAR = Date.now() + 3_600_000;

test('a control message older than the state held for its field is ignored and counted', async () => {
  const plane = new MemoryControlPlane();
  const metrics = createSidecarMetrics();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'), { metrics, intervalMs: 3_600_000 });
  await sub.start();
  await plane.write('block', 'ip:10.0.0.1', { until: FAR, reason: 'first' }); // seq 1
  await plane.write('block', 'ip:10.0.0.1', { until: FAR, reason: 'second' }); // seq 2
  await waitFor(() => sub.state.block(['ip:10.0.0.1'], Date.now())?.reason === 'second', 'second write applied', 2_000, 1);
  // (a start-up load racing the writes may have made a message stale already: count from here)
  const before = sub.staleMessages;
  const counted = metricValue(await metrics.registry.metrics(), 'ratewarden_control_stale_messages_total');
  assert.equal(counted, before);
  // the first write delivered again, late (a Cluster delivering out of order): older than what is held
  sub.onMessage(JSON.stringify({ v: 1, seq: 1, kind: 'block', field: 'ip:10.0.0.1', value: { until: FAR, reason: 'first', seq: 1 } }));
  // and an unblock older than the block it would lift
  sub.onMessage(JSON.stringify({ v: 1, seq: 1, kind: 'block', field: 'ip:10.0.0.1', value: null }));
  assert.equal(sub.state.block(['ip:10.0.0.1'], Date.now())?.reason, 'second', 'the newer state stays');
  assert.equal(sub.staleMessages - before, 2);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'ratewarden_control_stale_messages_total'), before + 2);
  assert.equal(metricValue(text, 'ratewarden_control_bad_messages_total'), 0);
  await sub.close();
});

test('a full control-state load that fails is counted (the state held is kept and the load retried)', async () => {
  const inner = new MemoryControlPlane();
  await inner.write('block', 'ip:10.0.0.2', { until: FAR, reason: 'held' });
  let failing = false;
  const plane: ControlPlane = {
    write: (kind, field, value) => inner.write(kind, field, value),
    read: async () => {
      if (failing) throw new Error('Redis is down');
      return inner.read();
    },
    subscribe: (onMessage, onResync) => inner.subscribe(onMessage, onResync),
    close: () => inner.close(),
  };
  const metrics = createSidecarMetrics();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'), { metrics, intervalMs: 3_600_000 });
  await sub.start();
  assert.equal(metricValue(await metrics.registry.metrics(), 'ratewarden_control_reload_errors_total'), 0);
  failing = true;
  void sub.reload('interval');
  await waitFor(async () => (metricValue(await metrics.registry.metrics(), 'ratewarden_control_reload_errors_total') ?? 0) >= 2, 'the failed load and its retry counted', 3_000);
  assert.equal(sub.state.block(['ip:10.0.0.2'], Date.now())?.reason, 'held', 'the state held is kept');
  failing = false;
  await waitFor(async () => (metricValue(await metrics.registry.metrics(), 'ratewarden_control_reloads_total', { cause: 'interval' }) ?? 0) >= 1, 'a retry succeeded', 5_000);
  await sub.close();
});
