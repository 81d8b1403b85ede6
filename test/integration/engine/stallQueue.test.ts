/**
 * A Redis that stalls (SIGSTOP of a private server) while decisions are queued behind the calls in
 * flight: once the calls time out and the breaker opens, the queued decisions must not be sent,
 * round after round, into the stalled server — each round another timeout (600 decisions in calls of
 * 32 waited 2 s behind a 100 ms timeout) — but decided by failMode at once. No decision waits much
 * more than one store.timeoutMs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../../sidecar/engine/index.js';
import { uniqueName } from '../../helpers/infra.js';
import { facts, policy } from '../../unit/engine/helpers.js';
import { privateRedisForFile } from './privateRedis.js';

const pr = privateRedisForFile();

describe('a stalled Redis with decisions queued', () => {
  it('fail open: queued decisions go to the fallback when the breaker opens, not into further timeouts', async () => {
    const e = createEngine({
      policy: policy(`store: { kind: redis, failMode: open, timeout: 100ms, keyPrefix: ${uniqueName('stall')} }\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 1000000, window: 1h }\n`),
      service: 's',
      redis: pr.redis,
      batch: { maxInFlight: 1, maxBatch: 32 }, // small calls: many rounds to empty the queue
    });
    assert.equal((await e.decide(facts())).kind, 'allow');
    pr.server.pause();
    try {
      const took: number[] = [];
      await Promise.all(
        Array.from({ length: 600 }, (_, i) => {
          const started = performance.now();
          return e.decide(facts({ ip: `10.1.${i >> 8}.${i & 255}` })).then((v) => {
            assert.equal(v.kind, 'allow');
            took.push(performance.now() - started);
          });
        }),
      );
      const worst = Math.max(...took);
      // about 2,000 ms before (each round of queued calls waited out a further timeout); room for a loaded machine
      assert.ok(worst < 1_000, `the slowest decision took ${Math.round(worst)} ms with a 100 ms store timeout`);
    } finally {
      pr.server.resume();
    }
    await e.close();
  });
});
