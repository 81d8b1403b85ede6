/**
 * A concurrency rule with `countRejected: true` (the schema accepts it; a lease is only ever taken by
 * a passing request, so it changes nothing) must release its leases like any concurrency rule. Its
 * admissions were marked uncommitted (committed excludes countRejected rules), so verdict.release
 * was undefined and every lease was held for the rule's whole timeout: limit 1, timeout 1m let one
 * request through per minute however short the requests — in memory, in Redis and on the Cluster.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Redis } from 'ioredis';
import { createEngine, type Engine } from '../../../sidecar/engine/index.js';
import { connectCluster, connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

let redis: Redis;
let cluster: Cluster;
const engines: Engine[] = [];
before(async () => {
  redis = await connectRedis();
  cluster = await connectCluster();
});
after(async () => {
  for (const e of engines) await e.close();
  redis?.disconnect();
  cluster?.disconnect();
});

const RULES = `rules:
  - { id: cc, key: [ip], algorithm: concurrency, limit: 1, timeout: 1m, countRejected: true }
  - { id: fw, key: [ip], algorithm: fixed-window, limit: 100, window: 1m, countRejected: true }
`;

describe('a concurrency rule with countRejected', () => {
  for (const [name, store, client] of [
    ['memory', 'memory', () => undefined],
    ['one Redis node', 'redis', () => redis],
    ['the Redis Cluster', 'redis', () => cluster],
  ] as const) {
    it(`releases its lease when the response ends (${name})`, async () => {
      const clock = new ManualClock();
      const e = createEngine({ policy: policy(`store: { kind: ${store}, keyPrefix: ${uniqueName('cccr')} }\n${RULES}`), service: 's', clock, redis: client(), redisTime: 'clock' });
      engines.push(e);
      for (let i = 0; i < 5; i++) {
        const v = await e.decide(facts());
        assert.equal(v.kind, 'allow', `request ${i}: the previous one was released`);
        assert.equal(typeof v.release, 'function', `request ${i} holds a lease to release`);
        v.release!();
        if (store === 'redis') await client()!.ping(); // the release is batched: let it reach Redis
        await new Promise((r) => setTimeout(r, 20));
        clock.advance(10);
      }
      // still exact: a second request while one is in flight is refused
      const held = await e.decide(facts());
      assert.equal(held.kind, 'allow');
      assert.equal((await e.decide(facts())).kind, 'limit');
      held.release!();
    });
  }
});
