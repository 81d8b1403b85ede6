/**
 * One Redis Cluster primary killed under load, on a PRIVATE 6-node cluster (3 primaries + 3
 * replicas on ports of this test's own; the shared cluster on 17001-17006 is never touched). A real
 * sidecar (`REDIS_CLUSTER_NODES`, failMode open) serves steady traffic from clients spread over
 * every slot; the primary that serves one of them is SIGKILLed. Its replica takes over (cluster
 * node timeout 2 s); meanwhile the sidecar answers from its local fallback, no request fails, and
 * afterwards decisions come from the cluster again and count exactly — including on the slots the
 * dead primary served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { secretHasher } from '../../models/clientKey.js';
import { keySlot } from '../../sidecar/engine/redis/slot.js';
import { childEnv, uniqueName } from '../helpers/infra.js';
import { httpRequest, startSidecarProcess, startStubUpstream, type SidecarProcess, type StubUpstream } from '../helpers/proc.js';
import { figure, percentile, startLoad, thousands, type Sample } from './lib/load.js';
import { sleep, startPrivateCluster, type PrivateCluster, type PrivateRedis } from './lib/privateRedis.js';

const FULL = 1_000_000;
const REPLICAS = 4;
const EXACT = 20;
const prefix = uniqueName('chaos-cl');
const hash = secretHasher(undefined);

let cluster: PrivateCluster;
let up: StubUpstream;
let sc: SidecarProcess;

before(async () => {
  cluster = await startPrivateCluster({ nodeTimeoutMs: 2_000 });
  up = await startStubUpstream();
  sc = await startSidecarProcess({
    policy: `version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: redis, failMode: open, timeout: 100ms, replicas: ${REPLICAS}, keyPrefix: ${prefix} }
rules:
  - { id: exact, match: { path: "/exact/**" }, key: [apiKey], algorithm: fixed-window, limit: ${EXACT}, window: 1h }
  - { id: load, match: { path: "/load/**" }, key: [apiKey], algorithm: fixed-window, limit: ${FULL}, window: 1h }
`,
    upstream: up.url,
    env: childEnv({ REDIS_CLUSTER_NODES: cluster.seeds, RW_CTL_PREFIX: uniqueName('chaos-cl-ctl') }),
  });
});

after(async () => {
  await sc?.stop();
  await up?.close();
  await cluster?.stop();
});

/** The hash slot of a rule's counter for an API key (`{<prefix>:<rule>:apiKey:<id>}:fw`). */
function slotOf(rule: string, apiKey: string): number {
  return keySlot(`{${prefix}:${rule}:apiKey:${hash(apiKey)}}:fw`);
}

/** A fresh API key whose `exact` counter lives in one of `slots`. */
function keyIn(slots: (slot: number) => boolean): string {
  for (let i = 0; ; i++) {
    const k = uniqueName(`exact-${i}`);
    if (slots(slotOf('exact', k))) return k;
  }
}

async function exactCount(key: string): Promise<{ admitted: number; limits: Set<string> }> {
  let admitted = 0;
  const limits = new Set<string>();
  for (let i = 0; i < EXACT + 5; i++) {
    const r = await httpRequest(`${sc.url}/exact/${i}`, { headers: { 'x-api-key': key } });
    if (r.status === 200) admitted++;
    limits.add(String(r.headers['x-ratelimit-limit']));
  }
  return { admitted, limits };
}

test('a primary SIGKILLed under load: zero failed requests, failover, and limits exact again on its slots', { timeout: 90_000 }, async () => {
  const workers = 16;
  const loadKey = (w: number): string => `chaos-cluster-load-${w}`;
  const victim: PrivateRedis = await cluster.primaryOf(`{${prefix}:load:apiKey:${hash(loadKey(0))}}:fw`);
  const victimSlots = await slotRanges(victim);
  const onVictim = (slot: number): boolean => victimSlots.some(([a, b]) => slot >= a && slot <= b);
  const victimWorkers = Array.from({ length: workers }, (_, w) => w).filter((w) => onVictim(slotOf('load', loadKey(w))));
  assert.ok(victimWorkers.length >= 1 && victimWorkers.length < workers, 'the load spans the killed primary and the others');

  const before = await exactCount(keyIn(onVictim));
  assert.equal(before.admitted, EXACT);

  const l = startLoad({ url: sc.url, workers, pauseMs: 5, headers: (w) => ({ 'x-api-key': loadKey(w) }) });
  await sleep(1_500);
  const downAt = performance.now();
  await victim.kill();
  await cluster.waitFailover(victim, 30_000);
  const failoverAt = performance.now();
  await sleep(5_000);
  await l.stop();

  const failed = l.samples.filter((s) => s.status !== 200);
  const victimSamples = l.samples.filter((s) => victimWorkers.includes(s.worker));
  const lastLocal = [...victimSamples].reverse().find((s) => s.limit !== FULL);
  const fromCluster = lastLocal === undefined ? 0 : lastLocal.at + lastLocal.ms - failoverAt;
  const during = l.samples.filter((s) => s.at >= downAt && s.at < failoverAt);
  const local = during.filter((s: Sample) => s.limit === FULL / REPLICAS).length;
  const after = await exactCount(keyIn(onVictim));
  figure(
    `Redis Cluster primary SIGKILL: ${failed.length + l.errors.length}/${thousands(l.samples.length + l.errors.length)} failed; failover took ${((failoverAt - downAt) / 1000).toFixed(1)} s ` +
      `(${thousands(local)}/${thousands(during.length)} answers from the local fallback meanwhile, p99 ${percentile(during.map((s) => s.ms), 0.99).toFixed(1)} ms, max ${Math.max(...during.map((s) => s.ms)).toFixed(0)} ms); ` +
      `its slots decided by the cluster again ${(Math.max(0, fromCluster) / 1000).toFixed(2)} s after the failover; a fresh key on them admitted ${after.admitted}/${EXACT + 5}`,
  );
  assert.deepEqual(l.errors.slice(0, 3), []);
  assert.equal(failed.length, 0, `failed answers: ${failed.length}`);
  assert.ok(Math.max(...during.map((s) => s.ms)) < 1_000, 'no request stalls for seconds');
  assert.ok(fromCluster < 2_000, `the killed primary's slots came back ${fromCluster.toFixed(0)} ms after the failover`);
  assert.equal(after.admitted, EXACT);
  assert.deepEqual([...after.limits], [String(EXACT)]);
  // and a key on another primary's slots too
  assert.equal((await exactCount(keyIn((s) => !onVictim(s)))).admitted, EXACT);
});

async function slotRanges(node: PrivateRedis): Promise<Array<[number, number]>> {
  const { Redis } = await import('ioredis');
  const c = new Redis(node.port, '127.0.0.1');
  try {
    const slots = (await c.cluster('SLOTS')) as unknown as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
    return slots.filter(([, , primary]) => primary[1] === node.port).map(([a, b]) => [a, b]);
  } finally {
    c.disconnect();
  }
}
