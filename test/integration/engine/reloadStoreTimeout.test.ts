/**
 * `store.timeout` takes effect on a policy reload (docs/OPERATIONS.md lists only store.kind, events
 * and upstream.connections as restart-only). The Redis store kept the timeout the engine was
 * created with: lowered from 2 s to 100 ms during an incident, a decision against a stalled Redis
 * (SIGSTOP of a private server) still waited 2,000 ms; raised, a pause shorter than the new timeout
 * still failed calls at the old one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../../sidecar/engine/index.js';
import { uniqueName } from '../../helpers/infra.js';
import { facts, policy } from '../../unit/engine/helpers.js';
import { privateRedisForFile } from './privateRedis.js';

const pr = privateRedisForFile();

function withTimeout(prefix: string, timeout: string) {
  return policy(`store: { kind: redis, failMode: open, timeout: ${timeout}, keyPrefix: ${prefix} }\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 100, window: 1m }\n`);
}

describe('store.timeout on a policy reload', () => {
  it('a lowered timeout bounds the wait for a stalled Redis at once', async () => {
    const prefix = uniqueName('rtlow');
    const e = createEngine({ policy: withTimeout(prefix, '2s'), service: 's', redis: pr.redis });
    assert.equal((await e.decide(facts())).kind, 'allow');
    e.setPolicy(withTimeout(prefix, '100ms'));
    pr.server.pause();
    try {
      const started = performance.now();
      assert.equal((await e.decide(facts())).kind, 'allow'); // fail open
      const took = performance.now() - started;
      assert.ok(took < 1_000, `waited ${Math.round(took)} ms for a stalled Redis with store.timeout reloaded to 100ms`);
      assert.equal(e.stats!().fallbackDecisions, 1);
    } finally {
      pr.server.resume();
    }
    await e.close();
  });

  it('a raised timeout lets a call wait longer than the old one', async () => {
    const prefix = uniqueName('rthigh');
    const e = createEngine({ policy: withTimeout(prefix, '100ms'), service: 's', redis: pr.redis });
    assert.equal((await e.decide(facts())).kind, 'allow');
    e.setPolicy(withTimeout(prefix, '5s'));
    pr.server.pause();
    let resumed = false;
    try {
      const pending = e.decide(facts());
      await new Promise((r) => setTimeout(r, 400));
      pr.server.resume();
      resumed = true;
      assert.equal((await pending).kind, 'allow');
      assert.equal(e.stats!().storeErrors, 0, 'the call failed at the old 100 ms timeout');
      assert.equal(e.stats!().fallbackDecisions, 0);
    } finally {
      if (!resumed) pr.server.resume();
    }
    await e.close();
  });
});
