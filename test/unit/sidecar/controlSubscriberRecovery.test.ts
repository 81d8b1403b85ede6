/**
 * The subscriber when Redis misbehaves: a load that fails (Redis not reachable yet at start, the
 * load after a reconnect failing) and a Redis that went back in time without the subscription
 * noticing (a failover behind a proxy).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockValue, ControlState as Loaded } from '../../../models/control.js';
import type { ControlPlane } from '../../../models/controlPlane.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import { ControlPlaneSubscriber } from '../../../sidecar/control/subscriber.js';
import { waitFor } from '../../helpers/proc.js';

const FAR = Date.now() + 3_600_000;

/** A Redis stand-in the test drives: its seq and blocks, failing reads, messages published by hand. */
class ScriptedPlane implements ControlPlane {
  seq = 0;
  readonly blocks = new Map<string, BlockValue>();
  failReads = 0;
  readDelayMs = 0;
  reads = 0;
  private onMessage: ((raw: string) => void) | null = null;
  private onResync: (() => void) | null = null;
  async write(): Promise<number> {
    throw new Error('not used');
  }
  /** Stores (unless `lost`) and publishes a block at the next seq. */
  block(field: string, reason: string, opts: { lost?: boolean } = {}): number {
    const seq = ++this.seq;
    const value = { until: FAR, reason, seq };
    if (!opts.lost) this.blocks.set(field, value);
    this.onMessage?.(JSON.stringify({ v: 1, seq, kind: 'block', field, value }));
    return seq;
  }
  async read(): Promise<Loaded> {
    this.reads++;
    const snapshot: Loaded = { seq: this.seq, blocks: new Map(this.blocks), overrides: new Map(), load: new Map(), invalid: [] };
    if (this.readDelayMs > 0) await new Promise((r) => setTimeout(r, this.readDelayMs));
    if (this.failReads > 0) {
      this.failReads--;
      throw new Error('Reached the max retries per request limit');
    }
    return snapshot;
  }
  async subscribe(onMessage: (raw: string) => void, onResync: () => void): Promise<() => Promise<void>> {
    this.onMessage = onMessage;
    this.onResync = onResync;
    return async () => {
      this.onMessage = null;
    };
  }
  reconnect(): void {
    this.onResync?.();
  }
  async close(): Promise<void> {}
}

test('start() does not resolve on a failed first load while Redis answers again within the start timeout', async () => {
  const plane = new ScriptedPlane();
  plane.block('ip:10.0.0.1', 'blocked before this sidecar started');
  plane.failReads = 2; // Redis not reachable for the first moments (the start load and the one after subscribing)
  plane.readDelayMs = 20;
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'), { startTimeoutMs: 3_000 });
  await sub.start();
  try {
    assert.equal(sub.loaded, true, 'start() resolved before any load succeeded');
    assert.equal(sub.state.block(['ip:10.0.0.1'], Date.now())?.reason, 'blocked before this sidecar started');
  } finally {
    await sub.close();
  }
});

test('a load that fails after a reconnect is retried soon, not 30 s later', async () => {
  const plane = new ScriptedPlane();
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'));
  await sub.start();
  try {
    // published while the subscription was down: only a load finds it
    plane.blocks.set('ip:10.0.0.2', { until: FAR, reason: 'during the outage', seq: ++plane.seq });
    plane.failReads = 1; // the control connection is not back yet when the subscription is
    plane.reconnect();
    await waitFor(() => sub.state.block(['ip:10.0.0.2'], Date.now()), 'the missed block loaded by a retry', 3_000, 10);
  } finally {
    await sub.close();
  }
});

test('a message older than the seq seen (Redis went back in time, no reconnect seen) makes the sidecar reload and drop what Redis lost', async () => {
  const plane = new ScriptedPlane();
  plane.seq = 900;
  const sub = new ControlPlaneSubscriber(plane, new ControlState('svc'));
  await sub.start();
  try {
    // the old master publishes 901..905, then fails over to a replica that never got them
    for (let i = 0; i < 5; i++) plane.block('ip:10.0.0.3', `lost in the failover ${i}`, { lost: true });
    assert.equal(sub.state.lastSeq, 905);
    assert.ok(sub.state.block(['ip:10.0.0.3'], Date.now()));
    plane.seq = 900;
    // the analyzer writes on the new master: seq 901, below the 905 the sidecar saw
    plane.block('ip:10.0.0.4', 'after the failover');
    await waitFor(() => sub.state.block(['ip:10.0.0.3'], Date.now()) === null, 'the lost block dropped', 2_000, 5);
    assert.equal(sub.state.block(['ip:10.0.0.4'], Date.now())?.reason, 'after the failover');
  } finally {
    await sub.close();
  }
});
