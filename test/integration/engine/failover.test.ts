/**
 * Redis failure, on a private Redis this test pauses (SIGSTOP) and resumes: failMode open turns a
 * stalled Redis into fast local decisions at limit / replicas and counts store errors; failMode
 * closed answers unavailable; both recover by themselves once Redis answers again. A Redis that
 * lost its scripts (SCRIPT FLUSH) is answered with EVAL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type Engine } from '../../../sidecar/engine/index.js';
import { uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';
import { privateRedisForFile } from './privateRedis.js';

const pr = privateRedisForFile({ enableAutoPipelining: true });

function engine(failMode: 'open' | 'closed', errors: Error[]): Engine {
  const p = policy(`store: { kind: redis, failMode: ${failMode}, timeout: 100ms, replicas: 4, keyPrefix: ${uniqueName('fo')} }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: 8, window: 1h }
`);
  return createEngine({ policy: p, service: 's', redis: pr.redis, hooks: { storeError: (e) => errors.push(e) } });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

async function until(what: string, cond: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Redis failure', () => {
  it('fail open: a stalled Redis costs one timeout, then local limits of limit / replicas, then recovers', async () => {
    const errors: Error[] = [];
    const e = engine('open', errors);
    assert.equal((await e.decide(facts({ ip: '10.0.0.1' }))).kind, 'allow');
    assert.equal(e.stats!().fallbackDecisions, 0);

    pr.server.pause();
    try {
      const [first, ms] = await timed(() => e.decide(facts({ ip: '10.0.0.2' })));
      assert.equal(first.kind, 'allow');
      assert.ok(ms < 400, `the first decision during the stall took ${ms} ms`);
      assert.equal(first.headline!.limit, 2); // 8 / 4 replicas
      assert.ok(errors.length >= 1);
      assert.equal(e.storeHealthy(), false);

      const [rest, restMs] = await timed(() => Promise.all(Array.from({ length: 4 }, () => e.decide(facts({ ip: '10.0.0.3' })))));
      assert.deepEqual(rest.map((v) => v.kind), ['allow', 'allow', 'limit', 'limit']);
      assert.ok(restMs < 50, `decisions with the breaker open took ${restMs} ms`);
      assert.ok(e.stats!().storeErrors >= 1);
    } finally {
      pr.server.resume();
    }
    await until('recovery', async () => {
      await e.decide(facts({ ip: '10.0.0.4' }));
      return e.storeHealthy();
    });
    const before = e.stats!().fallbackDecisions;
    const v = await e.decide(facts({ ip: '10.0.0.5' }));
    assert.equal(v.headline!.limit, 8);
    assert.equal(e.stats!().fallbackDecisions, before);
    await e.close();
  });

  it('fail open: a token bucket whose burst is smaller than the replicas keeps its local state as long as it takes to refill', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    // 4/s, burst 2, 4 replicas: locally 1/s with a burst of 1 — refilled after 1 s, not the 0.5 s of the shared bucket
    const p = policy(`store: { kind: redis, failMode: open, timeout: 100ms, replicas: 4, keyPrefix: ${uniqueName('fo')} }
rules:
  - { id: r, key: [ip], algorithm: token-bucket, rate: 4/s, burst: 2 }
`);
    const e = createEngine({ policy: p, service: 's', clock, redis: pr.redis, hooks: { storeError: () => undefined } });
    pr.server.pause();
    try {
      assert.equal((await e.decide(facts({ ip: '10.0.1.1' }))).kind, 'allow');
      clock.advance(600);
      assert.equal((await e.decide(facts({ ip: '10.0.1.1' }))).kind, 'limit', '0.6 of a token after 600 ms');
      clock.advance(400);
      assert.equal((await e.decide(facts({ ip: '10.0.1.1' }))).kind, 'allow');
    } finally {
      pr.server.resume();
    }
    await e.close();
  });

  it('fail closed: a stalled Redis answers unavailable with a Retry-After, and recovers', async () => {
    const errors: Error[] = [];
    const e = engine('closed', errors);
    assert.equal((await e.decide(facts())).kind, 'allow');
    pr.server.pause();
    try {
      const v = await e.decide(facts());
      assert.equal(v.kind, 'unavailable');
      assert.ok(v.retryAfterMs! >= 1_000);
      assert.ok(errors.length >= 1);
    } finally {
      pr.server.resume();
    }
    await until('recovery', async () => (await e.decide(facts({ ip: '10.1.0.1' }))).kind === 'allow');
    await e.close();
  });

  it('answers with EVAL when Redis has lost its scripts', async () => {
    const errors: Error[] = [];
    const e = engine('closed', errors);
    assert.equal((await e.decide(facts({ ip: '10.2.0.1' }))).kind, 'allow');
    await pr.redis.script('FLUSH');
    const v = await e.decide(facts({ ip: '10.2.0.1' }));
    assert.equal(v.kind, 'allow');
    assert.equal(v.headline!.remaining, 6);
    assert.deepEqual(errors, []);
    await e.close();
  });

  it('releases a concurrency lease that Redis granted after the decision had timed out', async () => {
    const errors: Error[] = [];
    const prefix = uniqueName('late');
    const p = policy(`store: { kind: redis, failMode: open, timeout: 100ms, keyPrefix: ${prefix} }
rules:
  - { id: c, key: [ip], algorithm: concurrency, limit: 5, timeout: 1h }
`);
    const e = createEngine({ policy: p, service: 's', redis: pr.redis, hooks: { storeError: (err) => errors.push(err) } });
    await pr.redis.ping();
    pr.server.pause();
    let v;
    try {
      v = await e.decide(facts({ ip: '10.3.0.1' })); // sent, then times out: decided locally
    } finally {
      pr.server.resume();
    }
    assert.equal(v.kind, 'allow');
    // Redis executes the stale call once resumed; its lease must be given back
    await until('the late lease to be released', async () => (await pr.redis.zcard(`{${prefix}:c:ip:10.3.0.1}:cc`)) === 0);
    v.release?.();
    await e.close();
  });

  it('refunds every admission of a late reply, however many checks it held (512 requests × 2 rules)', async () => {
    const errors: Error[] = [];
    const prefix = uniqueName('late');
    const p = policy(`store: { kind: redis, failMode: open, timeout: 100ms, keyPrefix: ${prefix} }
rules:
  - { id: a, key: [ip], algorithm: fixed-window, limit: 1000, window: 1h }
  - { id: b, key: [global], algorithm: fixed-window, limit: 100000, window: 1h }
`);
    const e = createEngine({ policy: p, service: 's', redis: pr.redis, batch: { maxInFlight: 1, maxBatch: 512 }, hooks: { storeError: (err) => errors.push(err) } });
    await pr.redis.ping();
    pr.server.pause();
    try {
      // the first goes out alone; the other 512 wait for it and go out as one call of 1,024 checks;
      // both time out and are decided locally
      const verdicts = await Promise.all(Array.from({ length: 513 }, (_, i) => e.decide(facts({ ip: `10.4.${i >> 8}.${i & 255}` }))));
      assert.ok(verdicts.every((v) => v.kind === 'allow'));
    } finally {
      pr.server.resume();
    }
    // Redis runs both stale calls once resumed: the late replies' admissions (1,026) must all be given back
    const global = `{${prefix}:b:global}:fw`;
    await until('the late admissions to be refunded', async () => Number(await pr.redis.hget(global, 'c')) === 0);
    assert.equal(Number(await pr.redis.hget(`{${prefix}:a:ip:10.4.1.255}:fw`, 'c')), 0);
    assert.ok(errors.every((err) => /did not answer/.test(err.message)), errors.map((err) => err.message).join('; '));
    await e.close();
  });
});
