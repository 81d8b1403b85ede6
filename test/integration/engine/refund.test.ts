/**
 * verdict.refund on real Redis (single node and Cluster): the refund scripts give a request's
 * consumption back in the key and window it was charged to, so the budget is as if the request had
 * never been admitted. Twin engines (separate key prefixes, same injected clock) run the same requests,
 * one with an extra refunded request, and every later outcome must match.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Redis } from 'ioredis';
import { createEngine, type Engine } from '../../../sidecar/engine/index.js';
import { connectCluster, connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';
import { assertAsIfNeverHappened, type TwinOptions } from '../../unit/engine/refundTwin.js';

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

function redisTwin(client: Redis | Cluster, rules: string): (clock: ManualClock) => [Engine, Engine] {
  return (clock) => {
    const make = (): Engine => {
      const e = createEngine({ policy: policy(`store: { kind: redis, keyPrefix: ${uniqueName('refund')} }\nrules:\n${rules}`), service: 's', clock, redis: client, redisTime: 'clock' });
      engines.push(e);
      return e;
    };
    return [make(), make()];
  };
}

/** Refunds are sent after the verdict, batched: let them reach Redis. */
function settled(client: Redis | Cluster): () => Promise<void> {
  return async () => {
    await new Promise((r) => setTimeout(r, 30));
    await client.ping();
  };
}

const CASES: Array<[string, string, TwinOptions]> = [
  ['fixed window, the window that was charged', '  - { id: r, key: [ip], algorithm: fixed-window, limit: 5, window: 1s }', {}],
  ['fixed window, after the charged window ended', '  - { id: r, key: [ip], algorithm: fixed-window, limit: 5, window: 1s }', { refundAfterMs: 1_000, between: true }],
  ['sliding window log, the entry added', '  - { id: r, key: [ip], algorithm: sliding-window-log, limit: 5, window: 1s }', { between: true, later: 10, stepMs: 150 }],
  ['sliding window counter, the current window', '  - { id: r, key: [ip], algorithm: sliding-window-counter, limit: 5, window: 1s }', {}],
  ['sliding window counter, the charged window rolled into the previous one', '  - { id: r, key: [ip], algorithm: sliding-window-counter, limit: 5, window: 1s }', { refundAfterMs: 900, between: true, later: 10, stepMs: 50 }],
  ['token bucket', '  - { id: r, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 4 }', { before: 2, between: true, later: 10, stepMs: 20 }],
  ['leaky bucket', '  - { id: r, key: [ip], algorithm: leaky-bucket, rate: 10/s, burst: 4 }', { before: 3, later: 10, stepMs: 20 }],
  ['leaky bucket in queue mode', '  - { id: r, key: [ip], algorithm: leaky-bucket, rate: 10/s, burst: 1, mode: queue, maxDelay: 1s }', { before: 2, later: 10, stepMs: 20 }],
  ['concurrency lease', '  - { id: r, key: [ip], algorithm: concurrency, limit: 3, timeout: 30s }', { before: 2, later: 3, release: true }],
  [
    'every rule of a request, countRejected included (several slots on the Cluster)',
    `  - { id: a, key: [ip], algorithm: fixed-window, limit: 6, window: 1m, countRejected: true }
  - { id: b, key: [ip], algorithm: token-bucket, rate: 1/s, burst: 5 }
  - { id: c, key: [ip], algorithm: sliding-window-log, limit: 7, window: 1m }
  - { id: d, key: [ip], algorithm: concurrency, limit: 4, timeout: 1m }
`,
    { later: 8 },
  ],
];

for (const [store, client] of [
  ['one Redis node', () => redis],
  ['the Redis Cluster', () => cluster],
] as const) {
  describe(`verdict.refund on ${store}`, () => {
    for (const [name, rules, opts] of CASES) {
      it(`leaves the budget as if the request never happened: ${name}`, async () => {
        await assertAsIfNeverHappened(redisTwin(client(), rules), { ...opts, settle: settled(client()) });
      });
    }

    it('gives a token bucket back no more than its burst', async () => {
      const clock = new ManualClock();
      const [e] = redisTwin(client(), '  - { id: r, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 3 }')(clock);
      const v = await e.decide(facts());
      clock.advance(10_000);
      v.refund!();
      await settled(client())();
      const kinds: string[] = [];
      for (let i = 0; i < 5; i++) kinds.push((await e.decide(facts())).kind);
      assert.deepEqual(kinds, ['allow', 'allow', 'allow', 'limit', 'limit']);
    });
  });
}
