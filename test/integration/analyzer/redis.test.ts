/**
 * The analyzer on real Redis: actions land in the control-plane hashes with the DESIGN.md field
 * formats and are announced on the channel; reports persist in Redis (single node and Cluster) with
 * their indexes, conditional transitions and retention.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Redis } from 'ioredis';
import { controlKeys, decodeControlMessage, type ControlKeys, type ControlMessage } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { connectCluster, connectRedis, uniqueName } from '../../helpers/infra.js';
import { reportStoreContract } from '../../unit/analyzer/reportStoreContract.js';
import { T0, ev, policy } from '../../unit/analyzer/helpers.js';

let redis: Redis;
let cluster: Cluster;
const prefixes: string[] = [];
const ctl: ControlKeys[] = [];
const subscriptions: Array<() => Promise<void>> = [];

before(async () => {
  redis = await connectRedis();
  cluster = await connectCluster();
});

after(async () => {
  for (const unsubscribe of subscriptions) await unsubscribe();
  for (const p of prefixes) {
    const stale = await redis.keys(`{${p}}*`);
    if (stale.length) await redis.del(...stale);
  }
  for (const k of ctl) await redis.del(k.overrides, k.blocks, k.load, k.seq);
  redis?.disconnect();
  cluster?.disconnect();
});

function freshPrefix(): string {
  const p = uniqueName('rwtest-an-reports');
  prefixes.push(p);
  return p;
}

reportStoreContract('redis store', async () => new RedisReportStore(redis, { prefix: freshPrefix() }));
reportStoreContract('redis cluster store', async () => {
  // cluster keys are cleaned through the cluster itself after the run
  const prefix = uniqueName('rwtest-an-creports');
  clusterPrefixes.push(prefix);
  return new RedisReportStore(cluster, { prefix });
});
const clusterPrefixes: string[] = [];
after(async () => {
  for (const p of clusterPrefixes) {
    for (const node of cluster.nodes('master')) {
      const stale = await node.keys(`{${p}}*`);
      if (stale.length) await node.del(...stale);
    }
  }
});

test('report keys carry a backstop expiry of retention + 1 day', async () => {
  const prefix = freshPrefix();
  const store = new RedisReportStore(redis, { prefix, retentionMs: 86_400_000 });
  const { report } = await import('../../unit/analyzer/reportStoreContract.js');
  await store.create(report('e1'));
  const ttl = await redis.pttl(store.keys.report('e1'));
  assert.ok(ttl > 86_400_000 && ttl <= 2 * 86_400_000, `pttl ${ttl}`);
});

test('a block and a tighten are written to rw:ctl hashes with DESIGN.md fields and announced on the channel; expiry deletes them', { timeout: 60_000 }, async () => {
  const keys = controlKeys(uniqueName('rwtest-an-ctl'));
  ctl.push(keys);
  const plane = new RedisControlPlane(redis, keys);
  const messages: ControlMessage[] = [];
  subscriptions.push(
    await plane.subscribe(
      (raw) => {
        const d = decodeControlMessage(raw);
        if (d.ok) messages.push(d.value);
      },
      () => undefined,
    ),
  );
  const prefix = freshPrefix();
  const reports = new RedisReportStore(redis, { prefix });
  let now = T0;
  const analyzer = new Analyzer({
    policy: policy(`analyzer:\n  actions:\n    - { minScore: 0.9, action: block, ttl: 1m }\n    - { minScore: 0.5, action: tighten, multiplier: 0.3, ttl: 1m }\n`),
    controlPlane: plane,
    reports,
    clock: () => now,
    detection: { warmupMs: 60_000 },
  });
  const STUFFER = 'ip:203.0.113.7';
  const SCRAPER = 'apiKey:5c5c5c5c5c5c5c5c';
  const second = async (attack: boolean): Promise<void> => {
    const batch: CallEvent[] = [];
    for (let c = 0; c < 10; c++) batch.push(ev({ ts: now + c, client: `apiKey:${String(c).padStart(16, '0')}`, route: `/api/r${c % 3}` }));
    if (attack) {
      for (let j = 0; j < 40; j++) batch.push(ev({ ts: now + j * 20, client: STUFFER, ip: '203.0.113.7', method: 'POST', route: '/login', status: 401 }));
      // a mild enumeration: scores in the tighten range, not the block range
      batch.push(ev({ ts: now + 500, client: SCRAPER, route: `/api/items/${Math.floor((now - T0) / 1000)}` }));
      batch.push(ev({ ts: now + 600, client: SCRAPER, route: `/api/items/${Math.floor((now - T0) / 1000) + 1}` }));
    }
    analyzer.ingest(batch);
    now += 1_000;
    await analyzer.tick(now);
  };
  for (let s = 0; s < 120; s++) await second(false);
  for (let s = 0; s < 30; s++) await second(true);

  const blockRaw = await redis.hget(keys.blocks, STUFFER);
  assert.ok(blockRaw, 'the block is in the blocks hash under the client key');
  const block = JSON.parse(blockRaw) as { until: number; reason: string; anomalyId: string; seq: number };
  assert.ok(block.until > now && block.until <= now + 60_000);
  assert.match(block.reason, /credential stuffing/);
  const stored = (await reports.get(block.anomalyId))!;
  assert.equal(stored.client, STUFFER);
  assert.equal(stored.status, 'actioned');
  const announced = messages.find((m) => m.kind === 'block' && m.field === STUFFER && m.value !== null)!;
  assert.ok(announced, 'the block was published on the channel');
  assert.equal(announced.seq, block.seq);
  assert.deepEqual(announced.value, block);

  const tighten = JSON.parse((await redis.hget(keys.overrides, `*|${SCRAPER}`))!) as { multiplier: number; until: number; anomalyId: string };
  assert.equal(tighten.multiplier, 0.3, 'override field <ruleId>|<clientKey> with * for any rule');
  assert.equal((await reports.get(tighten.anomalyId))!.action.kind, 'tighten');
  assert.ok(messages.some((m) => m.kind === 'override' && m.field === `*|${SCRAPER}`));

  for (let s = 0; s < 75; s++) await second(false);
  assert.equal(await redis.hget(keys.blocks, STUFFER), null, 'the analyzer deleted the expired block');
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(messages.some((m) => m.kind === 'block' && m.field === STUFFER && m.value === null), 'an unblock is announced as kind block, value null');
  assert.equal((await reports.get(block.anomalyId))!.status, 'expired');
});
