import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane, type ControlPlane } from '../../../models/controlPlane.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import { ControlPlaneSubscriber } from '../../../sidecar/control/subscriber.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { waitFor } from '../../helpers/proc.js';

const FAR = Date.now() + 3_600_000;

/** The in-memory plane, with a hook to lose channel messages (a missed pub/sub message). */
class LossyPlane implements ControlPlane {
  readonly inner = new MemoryControlPlane();
  drop: (raw: string) => boolean = () => false;
  reads = 0;
  private resync: (() => void) | null = null;
  write: ControlPlane['write'] = (kind, field, value) => this.inner.write(kind, field, value);
  async read() {
    this.reads++;
    return this.inner.read();
  }
  subscribe(onMessage: (raw: string) => void, onResync: () => void) {
    this.resync = onResync;
    return this.inner.subscribe((raw) => {
      if (!this.drop(raw)) onMessage(raw);
    }, onResync);
  }
  reconnect(): void {
    this.resync?.();
  }
  close() {
    return this.inner.close();
  }
}

test('state written before start is enforced once start() resolves', async () => {
  const plane = new MemoryControlPlane();
  await plane.write('block', 'ip:10.0.0.1', { until: FAR, reason: 'early' });
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'));
  await sub.start();
  assert.equal(sub.state.block(['ip:10.0.0.1'], Date.now())?.reason, 'early');
  await sub.close();
});

test('a published change is applied from the channel', async () => {
  const plane = new MemoryControlPlane();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'));
  await sub.start();
  await plane.write('override', 'r|*', { limit: 3, until: FAR, reason: 'x' });
  await waitFor(() => sub.state.override('r', ['ip:1.1.1.1'], Date.now()), 'override applied', 2_000, 1);
  assert.equal(sub.state.lastSeq, 1);
  await sub.close();
});

test('a bad message is counted and ignored', async () => {
  const plane = new LossyPlane();
  const metrics = createSidecarMetrics();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'), { metrics });
  await sub.start();
  sub.onMessage('{not json');
  sub.onMessage(JSON.stringify({ v: 1, seq: 1, kind: 'block', field: 'ip:x', value: { reason: 'no until', seq: 1 } }));
  sub.onMessage(JSON.stringify({ v: 9, seq: 1, kind: 'block', field: 'ip:x', value: null }));
  assert.equal(sub.badMessages, 3);
  assert.equal((await metrics.controlBadMessages.get()).values[0]!.value, 3);
  assert.equal(sub.state.block(['ip:x'], Date.now()), null);
  await sub.close();
});

test('a gap in seq triggers a full load that recovers the missed change', async () => {
  const plane = new LossyPlane();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'));
  await sub.start();
  const readsBefore = plane.reads;
  plane.drop = (raw) => raw.includes('"ip:missed"');
  await plane.write('block', 'ip:missed', { until: FAR, reason: 'lost message' });
  plane.drop = () => false;
  await plane.write('block', 'ip:seen', { until: FAR, reason: 'seen' });
  await waitFor(() => sub.state.block(['ip:missed'], Date.now()), 'missed block recovered by reload', 2_000, 1);
  assert.ok(plane.reads > readsBefore);
  await sub.close();
});

test('a reconnect of the subscription reloads the state', async () => {
  const plane = new LossyPlane();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'));
  await sub.start();
  plane.drop = () => true; // everything published while "disconnected" is lost
  await plane.write('block', 'ip:during-outage', { until: FAR, reason: 'x' });
  assert.equal(sub.state.block(['ip:during-outage'], Date.now()), null);
  plane.reconnect();
  await waitFor(() => sub.state.block(['ip:during-outage'], Date.now()), 'state reloaded after reconnect', 2_000, 1);
  await sub.close();
});

test('the periodic load picks up changes nobody announced', async () => {
  const plane = new LossyPlane();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'), { intervalMs: 50 });
  await sub.start();
  plane.drop = () => true;
  await plane.write('block', 'ip:quiet', { until: FAR, reason: 'x' });
  await waitFor(() => sub.state.block(['ip:quiet'], Date.now()), 'periodic reload', 2_000, 5);
  await sub.close();
});

test('a write published before the subscription took effect, after the start load had read, is loaded', async () => {
  // Redis-like timing: the start load's read happens at once but its reply comes back after 30 ms;
  // SUBSCRIBE takes effect after 20 ms; the write at 10 ms is in neither
  class SlowPlane implements ControlPlane {
    readonly inner = new MemoryControlPlane();
    reads = 0;
    write: ControlPlane['write'] = (kind, field, value) => this.inner.write(kind, field, value);
    async read() {
      this.reads++;
      const snapshot = await this.inner.read();
      await new Promise((r) => setTimeout(r, 30));
      return snapshot;
    }
    async subscribe(onMessage: (raw: string) => void, onResync: () => void) {
      await new Promise((r) => setTimeout(r, 20));
      return this.inner.subscribe(onMessage, onResync);
    }
    close() {
      return this.inner.close();
    }
  }
  const plane = new SlowPlane();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'), { intervalMs: 600_000 });
  const started = sub.start();
  await new Promise((r) => setTimeout(r, 10));
  await plane.write('block', 'ip:between', { until: FAR, reason: 'between the load and the subscription' });
  await started;
  await waitFor(() => sub.state.block(['ip:between'], Date.now()), 'block loaded after the subscription', 2_000, 5);
  assert.equal(plane.reads, 2);
  await sub.close();
});
