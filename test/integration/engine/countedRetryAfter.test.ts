/**
 * countRejected: a refusal that is counted takes budget, so its Retry-After is measured on the state
 * it leaves. Before, both stores reported the wait measured before the refusal was counted: a client
 * that waited exactly Retry-After (whole seconds, as the header says) was refused — and counted —
 * again, for ever on a bucket of 1 per 2 s or a sliding window counter.
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

/** Each rule and the request times (ms apart) that spend its budget and leave part of it on its way back. */
const RULES: Array<[string, number[]]> = [
  ['{ id: r, key: [ip], algorithm: token-bucket, rate: 1/2s, burst: 1, countRejected: true }', [0, 1_000]],
  ['{ id: r, key: [ip], algorithm: leaky-bucket, rate: 1/2s, burst: 1, countRejected: true }', [0, 1_000]],
  ['{ id: r, key: [ip], algorithm: leaky-bucket, rate: 1/2s, burst: 1, mode: queue, maxDelay: 1s, countRejected: true }', [0, 0, 1_500]],
  ['{ id: r, key: [ip], algorithm: sliding-window-counter, limit: 2, window: 1s, countRejected: true }', [0, 400, 1_100, 100, 0, 0, 500, 0]],
  ['{ id: r, key: [ip], algorithm: sliding-window-log, limit: 2, window: 1s, countRejected: true }', [0, 400, 1_100, 100, 0, 0, 500, 0]],
  ['{ id: r, key: [ip], algorithm: fixed-window, limit: 2, window: 1s, countRejected: true }', [0, 400, 1_100, 100, 0, 0, 500, 0]],
];

function engine(kind: 'memory' | 'redis', rule: string, clock: ManualClock): Engine {
  if (kind === 'memory') return createEngine({ policy: policy(`rules:\n  - ${rule}\n`), service: 's', clock });
  return createEngine({ policy: policy(`store: { kind: redis, keyPrefix: ${uniqueName('counted')}, timeout: 2s }\nrules:\n  - ${rule}\n`), service: 's', clock, redis, redisTime: 'clock' });
}

describe('countRejected: a client that waits Retry-After passes', () => {
  for (const kind of ['memory', 'redis'] as const) {
    for (const [rule, times] of RULES) {
      it(`${kind}: ${rule}`, async () => {
        const clock = new ManualClock(1_700_000_000_000);
        const e = engine(kind, rule, clock);
        try {
          for (const dt of times.slice(0, -1)) {
            clock.advance(dt);
            await e.decide(facts());
          }
          clock.advance(times.at(-1)!);
          let refusals = 0;
          for (;;) {
            const v = await e.decide(facts());
            if (v.kind !== 'limit') break;
            refusals++;
            assert.ok(refusals <= 1, `refused again after waiting Retry-After (${v.retryAfterMs} ms this time)`);
            clock.advance(Math.ceil(v.retryAfterMs! / 1000) * 1000); // as the header says: whole seconds
          }
        } finally {
          await e.close();
        }
      });
    }
  }
});
