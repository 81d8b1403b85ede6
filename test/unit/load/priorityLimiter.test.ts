/**
 * The priority limiter: slots up to the limit, headroom kept for the important tiers, a short
 * priority-ordered wait for a slot, shedding of the least important first, and permits that settle
 * exactly once. Time is the test's clock; a fixed-limit strategy isolates admission from adaptation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PriorityLimiter, defaultShare, type Permit, type ShedReason, type Waiter } from '../../../sidecar/adaptive/priorityLimiter.js';
import type { ConcurrencyLimit } from '../../../sidecar/adaptive/limit.js';
import { createLimit } from '../../../sidecar/adaptive/createLimit.js';
import { simulate, quantile } from './queueingSim.js';

class FixedLimit implements ConcurrencyLimit {
  readonly name = 'fixed';
  samples: Array<[number, number, boolean]> = [];
  constructor(public value: number) {}
  getLimit(): number {
    return this.value;
  }
  onSample(rtt: number, inflight: number, drop: boolean): void {
    this.samples.push([rtt, inflight, drop]);
  }
}

class Probe implements Waiter {
  permit: Permit | null = null;
  shed: ShedReason | null = null;
  constructor(readonly name = '') {}
  onAdmit(permit: Permit): void {
    this.permit = permit;
  }
  onShed(reason: ShedReason): void {
    this.shed = reason;
  }
}

function setup(limit = 10, opts: { maxWaitMs?: number; maxQueue?: number } = {}) {
  let now = 1_000;
  const shedLog: Array<[number, ShedReason, string]> = [];
  const strategy = new FixedLimit(limit);
  const limiter = new PriorityLimiter(strategy, { clock: () => now, maxWaitMs: opts.maxWaitMs ?? 20, maxQueue: opts.maxQueue ?? 100, onShed: (p, r, tag) => shedLog.push([p, r, tag]) });
  return { limiter, strategy, shedLog, advance: (ms: number) => (now += ms), now: () => now };
}

test('requests are admitted at once while slots are free, and the one past the limit waits', () => {
  const { limiter } = setup(3);
  const probes = [0, 1, 2, 3].map(() => new Probe());
  for (const p of probes) limiter.admit(0, p);
  assert.equal(probes.filter((p) => p.permit).length, 3);
  assert.equal(probes[3]!.permit, null);
  assert.equal(probes[3]!.shed, null);
  assert.equal(limiter.queued, 1);
});

test('a waiter gets the slot its predecessor frees', () => {
  const { limiter } = setup(1);
  const a = new Probe();
  const b = new Probe();
  limiter.admit(0, a);
  limiter.admit(0, b);
  a.permit!.success(30);
  assert.ok(b.permit, 'b admitted when a finished');
  assert.equal(limiter.inflight, 1);
});

test('a waiter is shed with 503 once its wait bound has passed', () => {
  const { limiter, advance, now, shedLog } = setup(1, { maxWaitMs: 20 });
  limiter.admit(0, new Probe());
  const late = new Probe();
  limiter.admit(2, late, 'free');
  assert.equal(limiter.sweep(advance(19)), now() + 1, 'sweep reports the next deadline');
  assert.equal(late.shed, null);
  assert.equal(limiter.sweep(advance(1)), null);
  assert.equal(late.shed, 'timeout');
  assert.deepEqual(shedLog, [[2, 'timeout', 'free']]);
});

test('at shutdown every waiter is answered at once, whatever its priority, and holds no slot', () => {
  const { limiter, shedLog } = setup(1, { maxWaitMs: 10_000 });
  const holder = new Probe();
  limiter.admit(0, holder);
  const waiting = [new Probe('a'), new Probe('b'), new Probe('c')];
  limiter.admit(0, waiting[0]!);
  limiter.admit(2, waiting[1]!);
  limiter.admit(1, waiting[2]!);
  assert.equal(limiter.queued, 3);
  limiter.shedAll();
  assert.deepEqual(waiting.map((w) => w.shed), ['shutdown', 'shutdown', 'shutdown']);
  assert.equal(limiter.queued, 0);
  assert.deepEqual(shedLog, [], 'a request cut by the shutdown is no shed');
  assert.equal(limiter.stats().shed, 0);
  holder.permit!.ignore();
  assert.deepEqual(waiting.map((w) => w.permit), [null, null, null]);
});

test('a freed slot goes to the most important waiter, even one that arrived later', () => {
  const { limiter } = setup(1);
  const first = new Probe();
  limiter.admit(0, first);
  const free = new Probe('free');
  const pro = new Probe('pro');
  const enterprise = new Probe('enterprise');
  limiter.admit(2, free);
  limiter.admit(1, pro);
  limiter.admit(0, enterprise);
  first.permit!.success(10);
  assert.ok(enterprise.permit);
  assert.equal(pro.permit, null);
  enterprise.permit!.success(10);
  assert.ok(pro.permit);
  assert.equal(free.permit, null);
});

test('lower priorities may fill only part of the limit, so the last slots stay with the important tiers', () => {
  const { limiter } = setup(10);
  const free = Array.from({ length: 10 }, () => new Probe());
  for (const p of free) limiter.admit(2, p);
  assert.equal(free.filter((p) => p.permit).length, 8, 'free (priority 2) fills 80%');
  const pro = Array.from({ length: 2 }, () => new Probe());
  for (const p of pro) limiter.admit(1, p);
  assert.equal(pro.filter((p) => p.permit).length, 1, 'pro (priority 1) fills up to 90%');
  const enterprise = new Probe();
  limiter.admit(0, enterprise);
  assert.ok(enterprise.permit, 'enterprise (priority 0) gets the last slot at once');
});

test('the default share keeps all of the limit for priority 0 and at least half for any priority', () => {
  assert.equal(defaultShare(0), 1);
  assert.equal(defaultShare(1), 0.9);
  assert.equal(defaultShare(2), 0.8);
  assert.equal(defaultShare(100), 0.5);
});

test('an arrival does not jump a waiting request of the same or better priority', () => {
  const { limiter } = setup(2);
  const a = new Probe();
  const b = new Probe();
  limiter.admit(0, a);
  limiter.admit(0, b);
  const waiting = new Probe();
  limiter.admit(0, waiting);
  // a slot frees and is handed to the waiter before a newcomer can take it
  a.permit!.ignore();
  const newcomer = new Probe();
  limiter.admit(0, newcomer);
  assert.ok(waiting.permit);
  assert.equal(newcomer.permit, null);
});

test('a full queue evicts the newest waiter of a worse priority, else sheds the arrival', () => {
  const { limiter, shedLog } = setup(1, { maxQueue: 2 });
  limiter.admit(0, new Probe());
  const free1 = new Probe();
  const free2 = new Probe();
  limiter.admit(2, free1, 'free');
  limiter.admit(2, free2, 'free');
  const pro = new Probe();
  limiter.admit(1, pro, 'pro');
  assert.equal(free2.shed, 'evicted');
  assert.equal(free1.shed, null);
  const free3 = new Probe();
  limiter.admit(2, free3, 'free');
  assert.equal(free3.shed, 'queue-full');
  assert.deepEqual(shedLog.map(([, r, t]) => `${t}:${r}`), ['free:evicted', 'free:queue-full']);
  assert.equal(limiter.queued, 2);
});

test('with a zero wait bound, a request that finds no slot is shed at once', () => {
  const { limiter } = setup(1, { maxWaitMs: 0 });
  limiter.admit(0, new Probe());
  const p = new Probe();
  limiter.admit(0, p);
  assert.equal(p.shed, 'no-wait');
});

test('a permit settles once: a second settle neither frees another slot nor adds a sample', () => {
  const { limiter, strategy } = setup(5);
  const p = new Probe();
  limiter.admit(0, p);
  p.permit!.success(12);
  p.permit!.success(12);
  p.permit!.dropped(12);
  assert.equal(limiter.inflight, 0);
  assert.deepEqual(strategy.samples, [[12, 1, false]]);
});

test('ignore frees the slot without telling the strategy anything; dropped tells it the upstream failed', () => {
  const { limiter, strategy } = setup(5);
  const a = new Probe();
  const b = new Probe();
  limiter.admit(0, a);
  limiter.admit(0, b);
  a.permit!.ignore();
  b.permit!.dropped(5);
  assert.equal(limiter.inflight, 0);
  assert.deepEqual(strategy.samples, [[5, 2, true]]);
});

test('the automatic wait bound is half the recent minimum RTT, between 1 and 50 ms', () => {
  let now = 0;
  const limiter = new PriorityLimiter(new FixedLimit(5), { clock: () => now });
  assert.equal(limiter.maxWaitMs, 10, 'before any sample');
  const p = new Probe();
  limiter.admit(0, p);
  p.permit!.success(40);
  assert.equal(limiter.maxWaitMs, 20);
  const q = new Probe();
  limiter.admit(0, q);
  q.permit!.success(400);
  assert.equal(limiter.maxWaitMs, 20, 'the minimum, not the latest');
  now = 25_000; // two RTT windows later the old minimum is forgotten
  const r = new Probe();
  limiter.admit(0, r);
  r.permit!.success(400);
  now = 40_000;
  const s = new Probe();
  limiter.admit(0, s);
  s.permit!.success(400);
  assert.equal(limiter.maxWaitMs, 50);
});

test('a larger limit from the strategy admits waiters at once', () => {
  const { limiter, strategy } = setup(1);
  limiter.admit(0, new Probe());
  const w = new Probe();
  limiter.admit(0, w);
  strategy.value = 3;
  limiter.setStrategy(strategy);
  assert.ok(w.permit);
});

test('under 3× overload of a fixed-capacity upstream, free is shed first and enterprise keeps ≥ 99% success, with goodput near capacity', () => {
  const W = 12;
  const S = 40;
  const capacity = (W / (S * 1.02)) * 1000;
  const D = 20_000;
  const result = simulate({
    limit: createLimit({ strategy: 'gradient2', minLimit: 4, maxLimit: 200, initialLimit: 20 }),
    upstream: { workers: W, serviceMs: S, queueLimit: 200 },
    tiers: [
      { tier: 'free', priority: 2, share: 0.6 },
      { tier: 'pro', priority: 1, share: 0.3 },
      { tier: 'enterprise', priority: 0, share: 0.1 },
    ],
    steps: [
      { ratePerSec: capacity * 0.5, durationMs: D },
      { ratePerSec: capacity * 3, durationMs: D },
    ],
    seed: 'unit',
  });
  const success = (tier: string): number => {
    const t = result.tiers[tier]!;
    const ok = t.arrivals.filter((a) => a >= D).length;
    return ok / (ok + t.shedAt.filter((a) => a >= D).length + t.upstream503);
  };
  assert.ok(success('enterprise') >= 0.99, `enterprise ${success('enterprise')}`);
  assert.ok(success('pro') > success('free'), `pro ${success('pro')} vs free ${success('free')}`);
  assert.ok(success('free') < 0.1, `free ${success('free')}`);
  const okPerSec = result.goodput.slice(D / 100 + 20, (2 * D) / 100).reduce((a, b) => a + (b ?? 0), 0) / ((D - 2_000) / 1000);
  assert.ok(okPerSec >= 0.95 * capacity, `goodput ${okPerSec} of ${capacity}`);
  const latencies = (from: number, to: number): number[] =>
    Object.values(result.tiers).flatMap((t) => t.latencies.filter((_, i) => t.arrivals[i]! >= from && t.arrivals[i]! < to));
  const unloaded = quantile(latencies(0, D), 0.99);
  const loaded = quantile(latencies(D + 2_000, 2 * D), 0.99);
  assert.ok(loaded <= 2 * unloaded, `p99 ${loaded} vs unloaded ${unloaded}`);
});

test('a withdrawn waiter leaves the queue at once: never shed, never admitted, and its place is free again', () => {
  const { limiter, shedLog, advance } = setup(1, { maxQueue: 1 });
  const holder = new Probe();
  limiter.admit(0, holder);
  const gone = new Probe();
  const ticket = limiter.admit(2, gone, 'free');
  assert.ok(ticket !== null);
  assert.equal(limiter.queued, 1);
  assert.equal(limiter.withdraw(ticket), true);
  assert.equal(limiter.queued, 0);
  assert.equal(limiter.withdraw(ticket), false, 'a second withdraw changes nothing');
  // the bounded queue has room again for a waiter of the same priority (before: shed as queue-full)
  const next = new Probe();
  assert.ok(limiter.admit(2, next, 'free') !== null);
  assert.equal(next.shed, null);
  advance(25);
  limiter.sweep(1_000 + 25);
  assert.equal(gone.shed, null);
  assert.deepEqual(shedLog, [[2, 'timeout', 'free']], 'only the waiter still there is shed');
  assert.equal(limiter.shed, 1);
  holder.permit!.success(5);
  assert.equal(gone.permit, null, 'a freed slot never goes to a withdrawn waiter');
  assert.equal(limiter.inflight, 0);
});

test('a waiter admitted or shed can no longer be withdrawn', () => {
  const { limiter } = setup(1);
  const holder = new Probe();
  limiter.admit(0, holder);
  const w = new Probe();
  const ticket = limiter.admit(0, w)!;
  holder.permit!.success(5);
  assert.ok(w.permit !== null);
  assert.equal(limiter.withdraw(ticket), false);
  assert.equal(limiter.queued, 0);
  assert.equal(limiter.inflight, 1);
});

for (const strategy of ['gradient2', 'vegas', 'aimd'] as const) {
  test(`${strategy}: traffic of a tier that may fill only half the limit still grows it against an idle upstream, also back from minLimit`, () => {
    for (const initialLimit of [4, 5, 21]) {
      let now = 0;
      const limiter = new PriorityLimiter(createLimit({ strategy, minLimit: 4, maxLimit: 200, initialLimit }), { clock: () => now, maxWaitMs: 0 });
      // shedPriority 5 (share 0.5), unbounded demand, an upstream that answers everything in 10 ms
      for (let i = 0; i < 3_000; i++) {
        const permits: Permit[] = [];
        for (let k = 0; k < 300; k++) limiter.admit(5, { onAdmit: (p) => permits.push(p), onShed: () => undefined });
        now += 10;
        for (const p of permits) p.success(10);
      }
      assert.ok(limiter.limit > 100, `${strategy} from ${initialLimit} stayed at ${limiter.limit}`);
    }
  });
}

test('a half-share tier alone against a saturated upstream: the limit still settles near its parallelism, and goodput stays near capacity', () => {
  const W = 12;
  const S = 40;
  const capacity = (W / (S * 1.02)) * 1000;
  const D = 20_000;
  const result = simulate({
    limit: createLimit({ strategy: 'gradient2', minLimit: 4, maxLimit: 200, initialLimit: 20 }),
    upstream: { workers: W, serviceMs: S, queueLimit: 200 },
    tiers: [{ tier: 'free', priority: 5, share: 1 }],
    steps: [{ ratePerSec: capacity * 3, durationMs: D }],
    seed: 'half-share',
  });
  const okPerSec = result.goodput.slice(20, D / 100).reduce((a, b) => a + (b ?? 0), 0) / ((D - 2_000) / 1000);
  assert.ok(okPerSec >= 0.9 * capacity, `goodput ${okPerSec} of ${capacity}`);
  assert.ok(result.tiers.free!.upstream503 === 0, `upstream 503s: ${result.tiers.free!.upstream503}`);
  const last = result.limits.filter((l) => l.t >= D / 2).map((l) => l.limit);
  assert.ok(Math.max(...last) < 60, `the limit ran away: ${Math.max(...last)}`);
});
