/**
 * The control-plane subscription lost and re-made, on PRIVATE Redis servers (a 6-node cluster and a
 * standalone one of this test's own; the shared ones are never touched): whatever was published
 * while nothing was subscribed must be enforced as soon as the subscription is back — by the load
 * that every re-subscription triggers — not only at the next `seq` gap (which needs a later
 * message) or the periodic load (30 s).
 *
 * On a Cluster, ioredis subscribes through one connection to one node and, when that connection
 * ends (its node failed, or the connection alone was dropped), subscribes again on another node
 * without any event on the Cluster ('ready' fires only when the whole Cluster reconnects);
 * RedisControlPlane follows those connections (followClusterSubscription). Without that, both
 * Cluster tests here failed: the block applied 29.6–29.9 s after the subscription was back, at the
 * periodic load. The subscriber is created as a sidecar creates it (createRedisClient,
 * RedisControlPlane, ControlPlaneSubscriber with the default 30 s interval); which node holds its
 * subscription is read from the nodes (PUBSUB NUMSUB: on a Cluster it counts the node's own
 * subscribers). A plain SIGKILL leaves ioredis without a subscription for only ~10–40 ms, too short
 * to publish into on purpose: the node is paused first (a hung node), the block is written and
 * published meanwhile, then the node is killed.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { controlKeys } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import { createRedisClient, type RedisClient, type RedisConnection } from '../../../models/infra.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import { ControlPlaneSubscriber } from '../../../sidecar/control/subscriber.js';
import { createSidecarMetrics, type SidecarMetrics } from '../../../sidecar/metrics.js';
import { uniqueName } from '../../helpers/infra.js';
import { waitFor } from '../../helpers/proc.js';
import { sleep, startPrivateCluster, startPrivateRedis, type PrivateCluster, type PrivateRedis } from '../../chaos/lib/privateRedis.js';

/** How soon after the subscription is back the block must apply (the load takes milliseconds). */
const ENFORCED_WITHIN_MS = 5_000;
/** On failure, how long to go on watching, to report when it did apply (the 30 s interval and some). */
const REPORT_UNTIL_MS = 40_000;
const FAR = (): number => Date.now() + 3_600_000;

interface Subscription {
  readonly client: RedisClient;
  readonly sub: ControlPlaneSubscriber;
  readonly metrics: SidecarMetrics;
  close(): Promise<void>;
}

/** A subscriber as the sidecar makes one: its own client (createRedisClient), default interval. */
async function subscribe(conn: RedisConnection, prefix: string): Promise<Subscription> {
  const client = createRedisClient(conn, { name: 'ratewarden-ctl-test' });
  client.on('error', () => undefined);
  const metrics = createSidecarMetrics();
  const sub = new ControlPlaneSubscriber(new RedisControlPlane(client, controlKeys(prefix)), new ControlState('svc'), { metrics });
  const s: Subscription = {
    client,
    sub,
    metrics,
    async close() {
      opened.delete(s);
      // never hang a test's end on an unsubscribe that a dead node does not answer
      await Promise.race([sub.close(), sleep(2_000)]);
      client.disconnect();
    },
  };
  opened.add(s);
  await sub.start();
  assert.ok(sub.loaded, 'the first load');
  return s;
}

/** Every subscription not closed yet (closed after each suite, also when a test failed midway). */
const opened = new Set<Subscription>();
async function closeAll(): Promise<void> {
  for (const s of [...opened]) await s.close();
}

async function reloads(metrics: SidecarMetrics, cause: string): Promise<number> {
  return (await metrics.controlReloads.get()).values.find((v) => v.labels.cause === cause)?.value ?? 0;
}

/** One command on one node, on a short-lived connection (null when the node does not answer). */
async function onNode(node: PrivateRedis, ...args: [string, ...Array<string | number>]): Promise<unknown> {
  if (!node.running()) return null;
  const c = new Redis(node.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, commandTimeout: 1_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.call(...args);
  } catch {
    return null;
  } finally {
    c.disconnect();
  }
}

/** The nodes with a subscriber on `channel` (a paused node does not answer and is not counted). */
async function holders(nodes: readonly PrivateRedis[], channel: string): Promise<PrivateRedis[]> {
  const counts = await Promise.all(nodes.map(async (n) => ((await onNode(n, 'PUBSUB', 'NUMSUB', channel)) as [string, number] | null)?.[1] ?? 0));
  return nodes.filter((_, i) => counts[i]! > 0);
}

/**
 * Waits until `field` is blocked in the subscriber's state; resolves to the ms it took from `from`.
 * Fails when that is more than ENFORCED_WITHIN_MS after `from`, saying when it did apply (or not
 * within REPORT_UNTIL_MS).
 */
async function enforcedWithin(s: Subscription, field: string, from: number, what: string): Promise<number> {
  const blocked = (): boolean => s.sub.state.block([field], Date.now()) !== null;
  const took = await waitFor(() => (blocked() ? performance.now() - from : null), what, REPORT_UNTIL_MS, 10).catch(() => Infinity);
  const reloadCauses = (await s.metrics.controlReloads.get()).values.map((v) => `${v.labels.cause}=${v.value}`).join(', ');
  assert.ok(
    took <= ENFORCED_WITHIN_MS,
    `${what}: not enforced within ${ENFORCED_WITHIN_MS} ms of the subscription coming back, but ${Number.isFinite(took) ? `after ${(took / 1000).toFixed(1)} s` : `not within ${REPORT_UNTIL_MS / 1000} s`} (loads so far: ${reloadCauses})`,
  );
  return took;
}

describe('Redis Cluster: the subscription moves to another node', () => {
  let cluster: PrivateCluster;
  let conn: RedisConnection;
  let writerClient: RedisClient;
  const prefix = uniqueName('it-ctl-resub');
  const channel = controlKeys(prefix).channel;
  let writer: RedisControlPlane;

  before(async () => {
    cluster = await startPrivateCluster({ nodeTimeoutMs: 2_000 });
    // a fresh cluster is healthy before its replicas have joined (CLUSTER SLOTS lists none yet, and
    // ioredis then keeps only the primaries): wait for a replica in every slot range
    await waitFor(async () => {
      const slots = (await onNode(cluster.nodes[0]!, 'CLUSTER', 'SLOTS')) as unknown[][] | null;
      return (slots !== null && slots.length > 0 && slots.every((range) => range.length >= 4)) || null;
    }, 'every primary has its replica', 30_000, 100);
    conn = { url: null, clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), caFile: null, username: null, password: null, clusterTls: false };
    writerClient = createRedisClient(conn, { name: 'ratewarden-analyzer-test' });
    writerClient.on('error', () => undefined);
    writer = new RedisControlPlane(writerClient, controlKeys(prefix));
  });
  afterEach(closeAll); // each test counts the subscriptions on the nodes: only its own
  after(async () => {
    await closeAll();
    writerClient?.disconnect();
    await cluster?.stop();
  });

  test('its connection dropped (node alive): the subscriber loads again once re-subscribed', { timeout: 90_000 }, async (t) => {
    const s = await subscribe(conn, prefix);
    const [node] = await waitFor(async () => {
      const h = await holders(cluster.nodes, channel);
      return h.length === 1 ? h : null;
    }, 'the subscription on one node', 5_000);
    const reconnectsBefore = await reloads(s.metrics, 'reconnect');
    const field = 'ip:203.0.113.1';
    const killedAt = performance.now();
    // CLIENT KILL ends the connection as a node failure does; the block goes out right after, while
    // ioredis subscribes again elsewhere (it may or may not be delivered: the load must come anyway)
    assert.ok(Number(await onNode(node!, 'CLIENT', 'KILL', 'TYPE', 'pubsub')) >= 1, 'the subscriber connection killed');
    await writer.write('block', field, { until: FAR(), reason: 'published as the subscription was dropped' });
    await waitFor(async () => (await holders(cluster.nodes, channel)).length === 1 || null, 'the subscription back', 10_000, 10);
    const backAt = performance.now();
    const took = await enforcedWithin(s, field, backAt, 'the block written as the connection was dropped');
    const reloaded = await waitFor(async () => (await reloads(s.metrics, 'reconnect')) > reconnectsBefore || null, 'a reconnect load', ENFORCED_WITHIN_MS).catch(() => false);
    t.diagnostic(`subscription back ${(backAt - killedAt).toFixed(0)} ms after CLIENT KILL; block enforced ${took.toFixed(0)} ms after that`);
    assert.ok(reloaded, `no load after the re-subscription (reconnect loads: ${await reloads(s.metrics, 'reconnect')}, before: ${reconnectsBefore})`);
  });

  test('its node fails: a block published while no node held the subscription is enforced once it is back', { timeout: 120_000 }, async (t) => {
    // the subscription must be on a replica: a paused primary would stall the write itself (its
    // slots, or a PUBLISH ioredis sends to a random primary). A fresh subscriber picks a node at random.
    let s: Subscription | null = null;
    let victim: PrivateRedis | null = null;
    for (let attempt = 0; victim === null; attempt++) {
      assert.ok(attempt < 40, 'a subscription on a replica (random node) in 40 tries');
      s = await subscribe(conn, prefix);
      const [node] = await waitFor(async () => {
        const h = await holders(cluster.nodes, channel);
        return h.length === 1 ? h : null;
      }, 'the subscription on one node', 5_000);
      const role = (await onNode(node!, 'ROLE')) as [string, ...unknown[]] | null;
      if (role?.[0] === 'slave') victim = node!;
      else await s.close();
    }
    const subscription = s!;
    const field = 'ip:203.0.113.2';
    const intervalLoadsBefore = await reloads(subscription.metrics, 'interval');
    const reconnectsBefore = await reloads(subscription.metrics, 'reconnect');
    const gapLoadsBefore = await reloads(subscription.metrics, 'gap');

    // the node hangs (SIGSTOP: its connections stay open) while the block is written and published:
    // every node but it passes the message on; then it dies and ioredis subscribes elsewhere
    victim.pause();
    const seq = await writer.write('block', field, { until: FAR(), reason: 'published while the subscription was down' });
    await sleep(300);
    assert.equal(subscription.sub.state.block([field], Date.now()), null, 'not delivered through the hung node');
    const killedAt = performance.now();
    // SIGKILL while still stopped, so it never runs again (PrivateRedis.kill() sends SIGCONT first:
    // the node woke long enough to pass the message on, now and then)
    process.kill(victim.pid()!, 'SIGKILL');
    await victim.kill(); // waits for the exit
    await waitFor(async () => (await holders(cluster.nodes, channel)).length === 1 || null, 'the subscription back on another node', 10_000, 10);
    const backAt = performance.now();

    // no later message is published: only a load can bring the block
    const backAfter = `subscription back on another node ${(backAt - killedAt).toFixed(0)} ms after SIGKILL`;
    const took = await enforcedWithin(subscription, field, backAt, `the block published while the subscription was down (${backAfter})`);
    t.diagnostic(`${backAfter}; the block (seq ${seq}) enforced ${took.toFixed(0)} ms after that`);
    assert.ok((await reloads(subscription.metrics, 'reconnect')) > reconnectsBefore, 'a load after the re-subscription');
    assert.equal(await reloads(subscription.metrics, 'gap'), gapLoadsBefore, 'not a seq gap: the message never arrived');
    assert.equal(await reloads(subscription.metrics, 'interval'), intervalLoadsBefore, 'not the periodic load');
    assert.equal(subscription.sub.state.lastSeq, seq);
  });
});

describe('standalone Redis, for comparison: the subscription reconnects', () => {
  let server: PrivateRedis;
  let writerClient: Redis;
  const prefix = uniqueName('it-ctl-resub');

  before(async () => {
    server = await startPrivateRedis();
    writerClient = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    await closeAll();
    writerClient?.disconnect();
    await server?.stop();
  });

  test('its connection dropped: a block published before it reconnects is enforced once it is back', { timeout: 60_000 }, async (t) => {
    const conn: RedisConnection = { url: server.url, clusterNodes: null, caFile: null, username: null, password: null, clusterTls: false };
    const s = await subscribe(conn, prefix);
    const channel = controlKeys(prefix).channel;
    const writer = new RedisControlPlane(writerClient, controlKeys(prefix));
    try {
      const field = 'ip:203.0.113.3';
      const reconnectsBefore = await reloads(s.metrics, 'reconnect');
      const killedAt = performance.now();
      // the block goes out right after the kill: ioredis reconnects 100 ms later (createRedisClient's
      // retryStrategy), so it reaches nobody — or, should the write be slower, arrives as a message
      const [[, killed], [, numsub]] = (await writerClient.multi().client('KILL', 'TYPE', 'pubsub').pubsub('NUMSUB', channel).exec()) as [[null, number], [null, [string, number]]];
      assert.ok(killed >= 1 && Number(numsub[1]) === 0, `killed ${killed}, subscribers left ${numsub[1]}`);
      await writer.write('block', field, { until: FAR(), reason: 'published while the subscription was down' });
      await waitFor(async () => Number(((await writerClient.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]) === 1 || null, 'the subscription back', 10_000, 10);
      const backAt = performance.now();
      const took = await enforcedWithin(s, field, backAt, 'the block published while the subscription was down');
      t.diagnostic(`subscription back ${(backAt - killedAt).toFixed(0)} ms after CLIENT KILL; block enforced ${took.toFixed(0)} ms after that`);
      assert.ok((await reloads(s.metrics, 'reconnect')) > reconnectsBefore, 'a load after the reconnect');
    } finally {
      await s.close();
    }
  });
});
