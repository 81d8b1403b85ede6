/**
 * RedisStore's queue bound, with a fake Redis whose replies come only when the test says so (a Redis
 * slower than the request rate that still answers in time: no timeout, no breaker). Decisions and
 * leases beyond 2 × maxInFlight × maxBatch queued units are failed at once (failMode decides them)
 * and counted; refunds are never dropped; the queued decisions still go out and are answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command, Redis } from 'ioredis';
import { ALLOW } from '../../../sidecar/engine/algorithms/index.js';
import { Check, snapshot } from '../../../sidecar/engine/check.js';
import { compilePolicy } from '../../../sidecar/engine/compile.js';
import { RedisStore, StoreUnavailableError, type StoreWaiter } from '../../../sidecar/engine/redis/redisStore.js';
import { policy } from './helpers.js';

class FakeRedis {
  status = 'ready';
  readonly calls: Array<{ keys: string[]; answer: () => void }> = [];
  sendCommand(cmd: Command): Promise<unknown> {
    const args = cmd.args as Array<string | number>;
    const keys = args.slice(2, 2 + Number(args[1])) as string[];
    return new Promise((resolve) => {
      // every check admitted, 5 left; refund units read no reply entries, extra entries are ignored
      const reply = [0, ...keys.flatMap(() => [ALLOW + 4 * 5, 1_000])];
      this.calls.push({ keys, answer: () => resolve(reply) });
    });
  }
}

class Waiter implements StoreWaiter {
  outcome: boolean | Error | undefined;
  storeDone(pass: boolean): void {
    this.outcome = pass;
  }
  storeFailed(err: Error): void {
    this.outcome = err;
  }
}

test('decisions beyond the queue bound are failed at once and counted; refunds still go out', async () => {
  const rule = compilePolicy(policy('store: { kind: redis }\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 100, window: 1h }\n')).rules[0]!;
  const fake = new FakeRedis();
  const store = new RedisStore({ client: fake as unknown as Redis, timeoutMs: 60_000, now: null, maxInFlight: 1, maxBatch: 4, onError: () => assert.fail('no store error expected') });
  const check = (key: string): Check => new Check(rule, key, 100, 100, 1);
  const submit = (key: string): Waiter => {
    const w = new Waiter();
    store.submit([check(key)], false, w);
    return w;
  };

  const first = submit('ip:first'); // goes out alone; Redis is slow to answer it
  assert.equal(fake.calls.length, 1);
  const queued = Array.from({ length: 8 }, (_, i) => submit(`ip:q${i}`)); // 2 rounds of 1 call × 4
  const shed = Array.from({ length: 100 }, (_, i) => submit(`ip:shed${i}`));
  for (const w of shed) {
    assert.ok(w.outcome instanceof StoreUnavailableError, 'a decision beyond the bound must be failed at once (failMode decides it)');
  }
  await assert.rejects(store.lease(check('ip:lease')), StoreUnavailableError);
  assert.equal(store.shed, 101);
  for (const w of queued) assert.equal(w.outcome, undefined);

  // a refund is queued even though the queue is full
  const admitted = check('ip:refunded');
  store.refund([snapshot(admitted)]);

  // Redis answers, round after round: the queued decisions and then the refund go out
  for (let i = 0; i < fake.calls.length; i++) {
    fake.calls[i]!.answer();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(first.outcome, true);
  for (const w of queued) assert.equal(w.outcome, true);
  const sentKeys = fake.calls.flatMap((c) => c.keys);
  assert.ok(sentKeys.some((k) => k.includes('ip:refunded')), 'the refund was dropped');
  assert.ok(!sentKeys.some((k) => k.includes('ip:shed')), 'a shed decision was sent anyway');
  assert.equal(fake.calls.length, 4, 'first, 2 rounds of 4 queued decisions, the refund');
  assert.equal(store.errors, 0);
  store.close();
});
