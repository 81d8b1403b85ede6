/**
 * scope: global-leased — 8 engines (own connections) share one budget in Redis but decide from
 * leased slices. Driven by one injected clock (Redis scripts use it too) so time is exact: the
 * token bucket over-admits by at most maxOverAdmission × limit in any interval, the sliding window
 * counter not beyond its own bound, and most decisions need no round trip.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createEngine, type Engine } from '../../../sidecar/engine/index.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

const ENGINES = 8;
let clients: Redis[] = [];
before(async () => {
  clients = await Promise.all(Array.from({ length: ENGINES }, () => connectRedis()));
});
after(() => clients.forEach((c) => c.disconnect()));

/** Fires `perStep` concurrent decisions from every engine at each ms for `ms` ms; admitted count per ms. */
async function drive(engines: Engine[], clock: ManualClock, ms: number, perStep: number): Promise<number[]> {
  const perMs: number[] = [];
  for (let t = 0; t < ms; t++) {
    const vs = await Promise.all(engines.flatMap((e) => Array.from({ length: perStep }, () => e.decide(facts()))));
    perMs.push(vs.filter((v) => v.kind === 'allow').length);
    clock.advance(1);
  }
  return perMs;
}

/** max over intervals [a, b] of admitted − allowance(b − a). */
function worstExcess(perMs: number[], allowance: (spanMs: number) => number): number {
  let worst = -Infinity;
  for (let a = 0; a < perMs.length; a++) {
    let sum = 0;
    for (let b = a; b < perMs.length; b++) {
      sum += perMs[b]!;
      worst = Math.max(worst, sum - allowance(b - a));
    }
  }
  return worst;
}

function engines(rule: string, clock: ManualClock): Engine[] {
  const p = policy(`store: { kind: redis, keyPrefix: ${uniqueName('lease')}, replicas: ${ENGINES}, timeout: 2s }\nrules:\n  - ${rule}\n`);
  return clients.map((redis) => createEngine({ policy: p, service: 's', clock, redis, redisTime: 'clock' }));
}

describe('global-leased', () => {
  it('token bucket: 8 competing engines over-admit by at most maxOverAdmission × limit in any interval', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    // 10,000/s with maxOverAdmission 2%: leases live 20 ms, the bound is 200 units over any interval
    const es = engines('{ id: g, key: [global], algorithm: token-bucket, rate: 10000/s, burst: 500, scope: global-leased, maxOverAdmission: 0.02 }', clock);
    const perMs = await drive(es, clock, 600, 4); // 32 attempts per ms against 10 per ms
    const excess = worstExcess(perMs, (span) => 500 + 10 * (span + 1));
    assert.deepEqual(es.map((e) => e.stats!().storeErrors), new Array(ENGINES).fill(0));
    assert.ok(excess <= 200, `over-admitted ${excess} units beyond the exact bucket (${perMs.join(',')})`);
    const admitted = perMs.reduce((a, b) => a + b, 0);
    assert.ok(admitted >= 0.9 * (500 + 10 * 600), `admitted only ${admitted} of ${500 + 10 * 600}`);
    const stats = es.map((e) => e.stats!());
    const calls = stats.reduce((a, s) => a + s.storeCalls, 0);
    assert.ok(calls < (ENGINES * 4 * 600) / 4, `${calls} store calls for ${ENGINES * 4 * 600} decisions`);
    await Promise.all(es.map((e) => e.close()));
  });

  it('sliding window counter: 8 competing engines stay within the counter bound in every window', async () => {
    const clock = new ManualClock(1_700_000_000_000 - 37);
    const es = engines('{ id: g, key: [global], algorithm: sliding-window-counter, limit: 300, window: 100ms, scope: global-leased, maxOverAdmission: 0.05 }', clock);
    const perMs = await drive(es, clock, 400, 2);
    const start = 1_700_000_000_000 - 37;
    const W = 100;
    // aligned windows hold at most the limit
    const aligned = new Map<number, number>();
    perMs.forEach((n, i) => aligned.set(Math.floor((start + i) / W), (aligned.get(Math.floor((start + i) / W)) ?? 0) + n));
    for (const [w, n] of aligned) assert.ok(n <= 300, `window ${w} admitted ${n}`);
    assert.ok([...aligned.values()].slice(1, -1).every((n) => n >= 250), `windows under-filled: ${[...aligned.values()]}`);
    await Promise.all(es.map((e) => e.close()));
  });

  it('gives unspent leased units back to Redis when they expire and when the engine closes', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const prefix = uniqueName('lease');
    const key = `{${prefix}:g:global}:tb`;
    // 1000/h, burst 1000, 5%: slices of up to 50 units that live 3 minutes; start from 100 tokens
    await clients[0]!.hset(key, 't', 100, 'ts', clock.now(), 'x', clock.now() + 3_600_000);
    await clients[0]!.pexpire(key, 3_600_000);
    const p = policy(`store: { kind: redis, keyPrefix: ${prefix}, replicas: 1 }\nrules:\n  - { id: g, key: [global], algorithm: token-bucket, rate: 1000/h, burst: 1000, scope: global-leased, maxOverAdmission: 0.05 }\n`);
    const e = createEngine({ policy: p, service: 's', clock, redis: clients[0]!, redisTime: 'clock' });
    assert.equal((await e.decide(facts())).kind, 'allow'); // leases 50, spends 1
    assert.equal(Number(await clients[0]!.hget(key, 't')), 50);
    clock.advance(10 * 60_000); // +166.67 tokens; the slice (49 left) has expired
    assert.equal((await e.decide(facts())).kind, 'allow'); // gives the 49 back, leases anew, spends 1
    await e.close(); // gives back whatever it still holds
    // nothing lost: 100 + 166.67 refilled − the 2 units spent
    const tokens = Number(await clients[0]!.hget(key, 't'));
    assert.ok(Math.abs(tokens - (100 + 10_000 / 60 - 2)) < 1e-6, `${tokens} tokens left`);
  });

  it("a refund that comes after its grant was replaced (an upstream timeout) does not add a unit to a later window's slice", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const e = engines('{ id: g, key: [global], algorithm: sliding-window-counter, limit: 10, window: 1s, scope: global-leased, maxOverAdmission: 0.5 }', clock)[0]!;
    const early = await e.decide(facts());
    assert.equal(early.kind, 'allow');
    clock.advance(2_500); // two windows on: the early request's window no longer weighs
    let admitted = 0;
    for (let i = 0; i < 20; i++) if ((await e.decide(facts())).kind === 'allow') admitted++;
    assert.equal(admitted, 10);
    early.refund?.(); // its upstream never answered, long after
    const after = await e.decide(facts());
    assert.equal(after.kind, 'limit', 'the late refund bought an 11th request in a window of 10');
    await e.close();
  });

  it('a burst larger than the slice sized for a trickle waits for more slices instead of being refused', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    // a huge shared budget: nothing may be refused. 1% of a 1 s window: slices live 10 ms, sized to
    // twice what the engine spent in the last 10 ms — a trickle of one request per ms gets ~20
    const e = engines('{ id: g, key: [global], algorithm: sliding-window-counter, limit: 1000000000, window: 1s, scope: global-leased, maxOverAdmission: 0.01 }', clock)[0]!;
    for (let t = 0; t < 50; t++) {
      assert.equal((await e.decide(facts())).kind, 'allow');
      clock.advance(1);
    }
    const burst = await Promise.all(Array.from({ length: 300 }, () => e.decide(facts())));
    assert.equal(burst.filter((v) => v.kind !== 'allow').length, 0, 'refused with budget left in Redis');
    assert.equal(e.stats!().storeErrors, 0);
    await e.close();
  });
});
