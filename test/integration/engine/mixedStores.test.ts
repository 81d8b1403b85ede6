/**
 * A request under rules in several stores (scope local in memory, shared in Redis, global-leased)
 * passes only if all pass, and no store keeps an admission for a request another store rejected.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createEngine, type Engine } from '../../../sidecar/engine/index.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

let redis: Redis;
before(async () => {
  redis = await connectRedis();
});
after(() => redis?.disconnect());

function engine(rules: string, prefix: string, clock: ManualClock): Engine {
  return createEngine({ policy: policy(`store: { kind: redis, keyPrefix: ${prefix} }\nrules:\n${rules}`), service: 's', clock, redis, redisTime: 'clock' });
}

describe('rules in several stores', () => {
  it('does not touch Redis for a request a local rule rejected', async () => {
    const prefix = uniqueName('mixed');
    const clock = new ManualClock(1_700_000_000_000);
    const e = engine(
      `  - { id: local, key: [ip], algorithm: fixed-window, limit: 1, window: 1h, scope: local }
  - { id: shared, key: [ip], algorithm: fixed-window, limit: 10, window: 1h }
`,
      prefix,
      clock,
    );
    assert.equal((await e.decide(facts())).kind, 'allow');
    const v = await e.decide(facts());
    assert.equal(v.kind, 'limit');
    assert.deepEqual(v.outcomes.map((o) => o.ruleId), ['local']);
    assert.equal(await redis.hget(`{${prefix}:shared:ip:10.0.0.1}:fw`, 'c'), '1');
    await e.close();
  });

  it('gives the local admission back when the shared rule rejects, reporting every store\'s rule', async () => {
    const prefix = uniqueName('mixed');
    const clock = new ManualClock(1_700_000_000_000);
    const e = engine(
      `  - { id: local, key: [ip], algorithm: fixed-window, limit: 5, window: 1h, scope: local }
  - { id: leased, key: [ip], algorithm: token-bucket, rate: 100/h, burst: 100, scope: global-leased }
  - { id: shared, key: [ip], algorithm: fixed-window, limit: 1, window: 1h }
`,
      prefix,
      clock,
    );
    const first = await e.decide(facts());
    assert.equal(first.kind, 'allow');
    for (let i = 0; i < 3; i++) {
      const v = await e.decide(facts());
      assert.equal(v.kind, 'limit');
      assert.equal(v.rule, 'shared');
      assert.deepEqual(v.outcomes.map((o) => o.ruleId).sort(), ['leased', 'local', 'shared']);
    }
    // only the first request still counts locally: the next one finds 1 of 5 used (3 left after itself)
    const after = await e.decide(facts());
    assert.equal(after.outcomes.find((o) => o.ruleId === 'local')!.remaining, 3);
    await e.close();
  });
});
