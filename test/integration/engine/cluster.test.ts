/**
 * Redis Cluster specifics: keys hash to the slot Redis computes, and a request whose rules live in
 * different slots is decided per slot — an admission in one slot is given back when another slot
 * rejects the request, so cross-slot requests never consume budget they were refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from 'ioredis';
import { createEngine } from '../../../sidecar/engine/index.js';
import { keySlot } from '../../../sidecar/engine/redis/slot.js';
import { connectCluster, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

let cluster: Cluster;
before(async () => {
  cluster = await connectCluster();
});
after(() => cluster?.disconnect());

async function settled(): Promise<void> {
  // refunds are sent after the verdict: let them go out and land
  await new Promise((r) => setTimeout(r, 50));
  await cluster.ping();
}

describe('Redis Cluster', () => {
  it('computes the same hash slot as the cluster for every key shape', async () => {
    const keys = ['{rw:r:ip:10.0.0.1}:fw', '{rw:per-key:apiKey:9f86d081884c7d65|ip:1.2.3.4}:swl:n', 'plain', '{}:x', 'a{b}c{d}', '{ünïcode:ключ}:tb', '{rw:r:header:x:#0123456789abcdef}:cc'];
    for (const key of keys) assert.equal(keySlot(key), await cluster.cluster('KEYSLOT', key), key);
  });

  it('refunds the slot that admitted when another slot rejects the request', async () => {
    const prefix = uniqueName('xslot');
    const clock = new ManualClock(1_700_000_000_000);
    const p = policy(`store: { kind: redis, keyPrefix: ${prefix} }
rules:
  - { id: strict, key: [ip], algorithm: fixed-window, limit: 1, window: 1h }
  - { id: loose, key: [ip], algorithm: fixed-window, limit: 5, window: 1h }
  - { id: slots, key: [ip], algorithm: concurrency, limit: 5, timeout: 1m }
`);
    const strictKey = `{${prefix}:strict:ip:10.0.0.1}:fw`;
    const looseKey = `{${prefix}:loose:ip:10.0.0.1}:fw`;
    const leaseKey = `{${prefix}:slots:ip:10.0.0.1}:cc`;
    assert.equal(new Set([keySlot(strictKey), keySlot(looseKey), keySlot(leaseKey)]).size, 3, 'the rules must live in three slots');
    const e = createEngine({ policy: p, service: 's', clock, redis: cluster, redisTime: 'clock' });
    const first = await e.decide(facts({ ip: '10.0.0.1' }));
    assert.equal(first.kind, 'allow');
    for (let i = 0; i < 3; i++) assert.equal((await e.decide(facts({ ip: '10.0.0.1' }))).kind, 'limit');
    await settled();
    assert.equal(await cluster.hget(looseKey, 'c'), '1');
    assert.equal(await cluster.zcard(leaseKey), 1);
    first.release!();
    await settled();
    assert.equal(await cluster.zcard(leaseKey), 0);
    await e.close();
  });
});
