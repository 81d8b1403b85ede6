/**
 * global-leased rules and the circuit breaker: while it is open, decisions do not wait for Redis
 * (sidecar/engine/README.md, "Failures"). Lease fetches ignored the breaker: against a stalled
 * Redis (SIGSTOP of a private server) every global-leased decision that needed a slice waited out
 * the full store.timeoutMs (20 decisions on fresh keys: 100 ms each, 20 store errors), where a
 * shared rule's decisions go to the fallback at once. The breaker still recovers through a lease.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../../sidecar/engine/index.js';
import { uniqueName } from '../../helpers/infra.js';
import { facts, policy } from '../../unit/engine/helpers.js';
import { privateRedisForFile } from './privateRedis.js';

const pr = privateRedisForFile();

describe('a global-leased rule against a stalled Redis', () => {
  it('fail open: once the breaker is open, decisions go to the fallback without waiting, and leases resume after recovery', async () => {
    const e = createEngine({
      policy: policy(
        `store: { kind: redis, failMode: open, timeout: 100ms, keyPrefix: ${uniqueName('lbrk')} }\nrules:\n  - { id: r, key: [ip], algorithm: token-bucket, rate: 1000000/m, burst: 1000000, scope: global-leased }\n`,
      ),
      service: 's',
      redis: pr.redis,
    });
    assert.equal((await e.decide(facts())).kind, 'allow');
    pr.server.pause();
    try {
      // the first fetch waits out the timeout and opens the breaker
      assert.equal((await e.decide(facts({ ip: '10.3.0.1' }))).kind, 'allow');
      const errorsOpen = e.stats!().storeErrors;
      assert.equal(e.stats!().storeHealthy, false);
      const took: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const v = await e.decide(facts({ ip: `10.3.1.${i}` })); // fresh keys: each needs a slice
        took.push(performance.now() - started);
        assert.equal(v.kind, 'allow');
      }
      const slow = took.filter((ms) => ms >= 90).length;
      // before: all 20 waited ~100 ms (one store error each); at most the back-off's probes may wait now
      assert.ok(slow <= 3, `${slow} of 20 decisions waited out the store timeout: ${took.map(Math.round).join(' ')}`);
      assert.ok(e.stats!().storeErrors - errorsOpen <= 3, `${e.stats!().storeErrors - errorsOpen} more store errors`);
    } finally {
      pr.server.resume();
    }
    // recovery: a lease probe closes the breaker, and decisions are leased from Redis again
    let leasedAgain = false;
    for (let i = 0; i < 200 && !leasedAgain; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const before = e.stats!().fallbackDecisions;
      await e.decide(facts({ ip: `10.3.2.${i}` }));
      leasedAgain = e.stats!().fallbackDecisions === before && e.stats!().storeHealthy;
    }
    assert.ok(leasedAgain, 'decisions never came from Redis leases again after the server resumed');
    await e.close();
  });
});
