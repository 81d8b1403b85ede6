/**
 * The control-plane subscriber against real Redis: pub/sub delivery, the load at start, and the
 * propagation time from a write to the state the engine reads (p99 < 50 ms).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { controlKeys } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import { ControlPlaneSubscriber } from '../../../sidecar/control/subscriber.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { waitFor } from '../../helpers/proc.js';

let redis: Redis;
const prefix = uniqueName('it-ctl');
const keys = controlKeys(prefix);

before(async () => {
  redis = await connectRedis();
});
after(async () => {
  await redis.del(keys.overrides, keys.blocks, keys.load, keys.seq);
  for (const c of opened) c.disconnect();
  redis.disconnect();
});

const opened: Redis[] = [];
/** A subscriber on its own connection (as a sidecar has), closed in after(). */
function subscriber(metrics = createSidecarMetrics()): ControlPlaneSubscriber {
  const conn = redis.duplicate();
  opened.push(conn);
  return new ControlPlaneSubscriber(new RedisControlPlane(conn, keys), new ControlState('svc'), { metrics });
}

/** Resolves on the first macrotask turn where `check()` holds; measures with sub-ms resolution. */
function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const spin = (): void => {
      if (check()) resolve();
      else if (performance.now() > deadline) reject(new Error('timed out'));
      else setImmediate(spin);
    };
    spin();
  });
}

test('a block written to Redis reaches a running subscriber with p99 under 50 ms', async (t) => {
  const plane = new RedisControlPlane(redis, keys);
  const sub = subscriber();
  await sub.start();
  const latencies: number[] = [];
  try {
    for (let i = 0; i < 100; i++) {
      const client = `ip:192.0.2.${i}`;
      const t0 = performance.now();
      await plane.write('block', client, { until: Date.now() + 60_000, reason: 'probe' });
      await until(() => sub.state.block([client], Date.now()) !== null, 2_000);
      latencies.push(performance.now() - t0);
    }
  } finally {
    await sub.close();
  }
  latencies.sort((a, b) => a - b);
  const p99 = latencies[98]!;
  t.diagnostic(`write → applied: p50 ${latencies[49]!.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${latencies[99]!.toFixed(2)} ms`);
  assert.ok(p99 < 50, `p99 ${p99.toFixed(1)} ms`);
});

test('a subscriber started after the write enforces it as soon as start() resolves', async () => {
  const plane = new RedisControlPlane(redis, keys);
  await plane.write('block', 'apiKey:0123456789abcdef', { until: Date.now() + 60_000, reason: 'before start' });
  await plane.write('override', 'r|*', { multiplier: 0.5, until: Date.now() + 60_000, reason: 'x' });
  await plane.write('load', 'svc', { multiplier: 0.3, since: Date.now(), reason: 'p99 high' });
  const sub = subscriber();
  await sub.start();
  try {
    const now = Date.now();
    assert.equal(sub.state.block(['apiKey:0123456789abcdef'], now)?.reason, 'before start');
    assert.equal(sub.state.override('r', ['ip:1.2.3.4'], now)?.multiplier, 0.5);
    assert.equal(sub.state.loadMultiplier('free', now), 0.3);
    assert.equal(sub.state.lastSeq, Number(await redis.get(keys.seq)));
  } finally {
    await sub.close();
  }
});

test('an unblock and an expired block both stop applying', async () => {
  const plane = new RedisControlPlane(redis, keys);
  const sub = subscriber();
  await sub.start();
  try {
    await plane.write('block', 'ip:198.51.100.1', { until: Date.now() + 60_000, reason: 'x' });
    await plane.write('block', 'ip:198.51.100.2', { until: Date.now() + 150, reason: 'short' });
    await waitFor(() => sub.state.block(['ip:198.51.100.1'], Date.now()) && sub.state.block(['ip:198.51.100.2'], Date.now()), 'both blocks', 2_000, 1);
    await plane.write('block', 'ip:198.51.100.1', null);
    await waitFor(() => sub.state.block(['ip:198.51.100.1'], Date.now()) === null, 'unblock applied', 2_000, 1);
    // nobody deletes the short one: `until` is honoured locally
    await waitFor(() => sub.state.block(['ip:198.51.100.2'], Date.now()) === null, 'expiry honoured', 2_000, 10);
  } finally {
    await sub.close();
  }
});

test('a malformed message on the channel is counted and ignored', async () => {
  const metrics = createSidecarMetrics();
  const sub = subscriber(metrics);
  await sub.start();
  try {
    await redis.publish(keys.channel, '{"v":1,"seq":"x"}');
    await redis.publish(keys.channel, 'garbage');
    await waitFor(() => sub.badMessages === 2, 'bad messages counted', 2_000, 5);
    assert.equal((await metrics.controlBadMessages.get()).values[0]!.value, 2);
  } finally {
    await sub.close();
  }
});
