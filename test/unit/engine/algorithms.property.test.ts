/**
 * Property-based specifications of the six algorithms (the pure core, injected time): the exact ones
 * never admit more than their limit in any window — including windows around window edges — the
 * fixed window's boundary burst is real, the sliding window counter stays within its stated bound,
 * and Retry-After / remaining tell the truth.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  QUEUE,
  REJECT,
  concurrency,
  fixedWindow,
  leakyBucket,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
  type Demand,
  type LocalAlgorithm,
  type Result,
} from '../../../sidecar/engine/algorithms/index.js';

const RUNS = { seed: 20_260_101, numRuns: 150 };
const W = 1_000;
/** An epoch-ms origin on a window edge; sequences start a few ms before it. */
const EDGE = 1_700_000_000_000 - (1_700_000_000_000 % W);

interface Step {
  dt: number;
  cost: number;
}
interface Admission {
  t: number;
  cost: number;
  delay: number;
}

const steps = (maxCost: number): fc.Arbitrary<Step[]> =>
  fc.array(
    fc.record({
      // bursts at one instant, bursts around edges, and gaps across several windows
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: W / 4 }), fc.integer({ min: 0, max: 2 * W })),
      cost: fc.integer({ min: 1, max: maxCost }),
    }),
    { minLength: 1, maxLength: 250 },
  );
const startOffset = fc.integer({ min: 0, max: 5 });

function result(): Result {
  return { status: REJECT, remaining: 0, resetMs: 0, waitMs: 0 };
}

function run<S>(alg: LocalAlgorithm<S>, base: Omit<Demand, 'cost'>, start: number, seq: Step[]): { admitted: Admission[]; state: S | undefined; t: number } {
  let s: S | undefined;
  let t = start;
  let n = 0;
  const admitted: Admission[] = [];
  for (const step of seq) {
    t += step.dt;
    const d: Demand = { ...base, cost: step.cost };
    const r = result();
    alg.evaluate(s, d, t, r);
    if (r.status !== REJECT) {
      s = alg.consume(s, d, t, true, `lease-${n++}`);
      admitted.push({ t, cost: step.cost, delay: r.status === QUEUE ? r.waitMs : 0 });
    }
  }
  return { admitted, state: s, t };
}

/** Largest total cost admitted inside any interval [a, b], compared with allowance(b − a). */
function maxExcess(points: Array<{ t: number; cost: number }>, allowance: (span: number) => number): number {
  let worst = -Infinity;
  for (let i = 0; i < points.length; i++) {
    let sum = 0;
    for (let j = i; j < points.length; j++) {
      sum += points[j]!.cost;
      worst = Math.max(worst, sum - allowance(points[j]!.t - points[i]!.t));
    }
  }
  return worst;
}

describe('fixed window', () => {
  const base = { limit: 10, windowMs: W, burst: 10, maxDelayMs: 0, queue: false };

  it('never admits more than the limit in any aligned window, edges included', () => {
    fc.assert(
      fc.property(steps(3), startOffset, (seq, off) => {
        const { admitted } = run(fixedWindow, base, EDGE - off, seq);
        const perWindow = new Map<number, number>();
        for (const a of admitted) perWindow.set(Math.floor(a.t / W), (perWindow.get(Math.floor(a.t / W)) ?? 0) + a.cost);
        for (const total of perWindow.values()) assert.ok(total <= base.limit, `window admitted ${total} > ${base.limit}`);
      }),
      RUNS,
    );
  });

  it('lets twice the limit through within 2 ms across a window edge (the boundary burst)', () => {
    const seq: Step[] = [{ dt: 0, cost: 1 }, ...Array.from({ length: 10 }, () => ({ dt: 0, cost: 1 })), { dt: 1, cost: 1 }, ...Array.from({ length: 10 }, () => ({ dt: 0, cost: 1 }))];
    const { admitted } = run(fixedWindow, base, EDGE - 1, seq);
    assert.equal(admitted.length, 20);
    assert.equal(admitted[admitted.length - 1]!.t - admitted[0]!.t, 1);
  });
});

describe('sliding window log', () => {
  const base = { limit: 10, windowMs: W, burst: 10, maxDelayMs: 0, queue: false };

  it('never admits more than the limit in any window of length W', () => {
    fc.assert(
      fc.property(steps(3), startOffset, (seq, off) => {
        const { admitted } = run(slidingWindowLog, base, EDGE - off, seq);
        // a window's content only grows at admissions, so windows ending at admissions are the worst
        for (const end of admitted) {
          const inside = admitted.filter((a) => a.t > end.t - W && a.t <= end.t).reduce((s, a) => s + a.cost, 0);
          assert.ok(inside <= base.limit, `(${end.t - W}, ${end.t}] holds ${inside}`);
        }
      }),
      RUNS,
    );
  });

  it('keeps no entry for a refunded request, so refunds cannot grow the log beyond the limit', () => {
    const d: Demand = { limit: 5, windowMs: 3_600_000, burst: 5, cost: 1, maxDelayMs: 0, queue: false };
    let s: ReturnType<typeof slidingWindowLog.consume> | undefined;
    let t = EDGE;
    for (let i = 0; i < 20_000; i++) {
      t += 1;
      const r = result();
      slidingWindowLog.evaluate(s, d, t, r);
      assert.equal(r.status, 1, `request ${i} refused`);
      s = slidingWindowLog.consume(s, d, t, true, null);
      if (i % 5_000 !== 4_999) slidingWindowLog.refund(s, d, t, null); // 4 of them are kept
    }
    assert.equal(s!.sum, 4);
    assert.equal(s!.times.length, 4, `${s!.times.length} entries held for a limit of 5`);
    const r = result();
    slidingWindowLog.evaluate(s, d, t + 1, r);
    assert.deepEqual([r.status, r.remaining], [1, 0]);
  });
});

describe('sliding window counter', () => {
  const base = { limit: 10, windowMs: W, burst: 10, maxDelayMs: 0, queue: false };

  it('holds at most the limit in any aligned window and at most limit + p·e/W in any sliding window', () => {
    fc.assert(
      fc.property(steps(3), startOffset, (seq, off) => {
        const { admitted } = run(slidingWindowCounter, base, EDGE - off, seq);
        for (const end of admitted) {
          const cw = end.t - (end.t % W);
          const aligned = admitted.filter((a) => a.t >= cw && a.t <= end.t).reduce((s, a) => s + a.cost, 0);
          const prev = admitted.filter((a) => a.t >= cw - W && a.t < cw).reduce((s, a) => s + a.cost, 0);
          const sliding = admitted.filter((a) => a.t > end.t - W && a.t <= end.t).reduce((s, a) => s + a.cost, 0);
          const bound = base.limit + (prev * (end.t - cw)) / W;
          assert.ok(aligned <= base.limit, `aligned window holds ${aligned}`);
          assert.ok(sliding <= bound + 1e-9, `(${end.t - W}, ${end.t}] holds ${sliding} > bound ${bound}`);
          assert.ok(sliding < 2 * base.limit);
        }
      }),
      RUNS,
    );
  });

  it('reaches its bound when the previous window spent everything at its very end', () => {
    // 10 at the last ms of a window, then half a window later the estimate 10·½ + c admits 5 more:
    // 15 requests inside (t − W, t] — exactly limit + p·e/W
    const seq: Step[] = [...Array.from({ length: 10 }, (_, i) => ({ dt: i === 0 ? 0 : 0, cost: 1 })), { dt: W / 2 + 1, cost: 1 }, ...Array.from({ length: 9 }, () => ({ dt: 0, cost: 1 }))];
    const { admitted } = run(slidingWindowCounter, base, EDGE - 1, seq);
    const end = admitted[admitted.length - 1]!.t;
    const sliding = admitted.filter((a) => a.t > end - W).length;
    assert.equal(sliding, 15);
  });
});

describe('token bucket', () => {
  const base = { limit: 10, windowMs: W, burst: 15, maxDelayMs: 0, queue: false };

  it('never admits more than burst + rate × T in any interval T', () => {
    fc.assert(
      fc.property(steps(4), startOffset, (seq, off) => {
        const { admitted } = run(tokenBucket, base, EDGE - off, seq);
        const excess = maxExcess(admitted, (span) => base.burst + (base.limit * span) / W);
        assert.ok(excess <= 1e-6, `over-admitted by ${excess}`);
      }),
      RUNS,
    );
  });
  it('admits the unit request that a remaining of 1 promised (rate 3/s, burst 10: 0.9999999999999998 tokens left)', () => {
    const d: Demand = { limit: 3, windowMs: W, burst: 10, cost: 1, maxDelayMs: 0, queue: false };
    // drained at once, then refilled for 897 ms (one admitted) and 103 ms more: 2 tokens, in floats a hair below
    const { state, t } = run(tokenBucket, d, EDGE, [...Array.from({ length: 10 }, () => ({ dt: 0, cost: 1 })), { dt: 897, cost: 1 }, { dt: 103, cost: 0 }]);
    const admitted = result();
    tokenBucket.evaluate(state, d, t, admitted);
    assert.equal(admitted.status, 1);
    assert.equal(admitted.remaining, 1);
    const s = tokenBucket.consume(state, d, t, true, null);
    const next = result();
    tokenBucket.evaluate(s, d, t, next);
    assert.equal(next.status, 1, `refused with ${s.t} tokens after "1 remaining"`);
    assert.equal(next.remaining, 0);
  });
});

describe('leaky bucket (GCRA)', () => {
  const base = { limit: 10, windowMs: W, burst: 5, maxDelayMs: 0, queue: false };

  it('rejecting: never admits more than burst + rate × T in any interval T', () => {
    fc.assert(
      fc.property(steps(3), startOffset, (seq, off) => {
        const { admitted } = run(leakyBucket, base, EDGE - off, seq);
        const excess = maxExcess(admitted, (span) => base.burst + (base.limit * span) / W);
        assert.ok(excess <= 1e-6, `over-admitted by ${excess}`);
      }),
      RUNS,
    );
  });

  it('queueing: delays by at most maxDelay, and what leaves the queue conforms to the same bound', () => {
    const queued = { ...base, queue: true, maxDelayMs: 700 };
    fc.assert(
      fc.property(steps(3), startOffset, (seq, off) => {
        const { admitted } = run(leakyBucket, queued, EDGE - off, seq);
        for (const a of admitted) assert.ok(a.delay <= queued.maxDelayMs);
        const leaving = admitted.map((a) => ({ t: a.t + a.delay, cost: a.cost })).sort((x, y) => x.t - y.t);
        // delays are whole ms (rounded up), so leaving times are at most 1 ms late, never early
        const excess = maxExcess(leaving, (span) => base.burst + (base.limit * (span + 1)) / W);
        assert.ok(excess <= 1e-6, `released ${excess} too many`);
      }),
      RUNS,
    );
  });

  it('queues instead of rejecting until the delay would exceed maxDelay', () => {
    const queued = { ...base, queue: true, maxDelayMs: 300 };
    const seq: Step[] = Array.from({ length: 10 }, () => ({ dt: 0, cost: 1 }));
    const statuses: number[] = [];
    let s: ReturnType<typeof leakyBucket.consume> | undefined;
    for (const step of seq) {
      const r = result();
      leakyBucket.evaluate(s, { ...queued, cost: step.cost }, EDGE, r);
      statuses.push(r.status);
      if (r.status !== REJECT) s = leakyBucket.consume(s, { ...queued, cost: 1 }, EDGE, true, null);
    }
    // 5 fit the bucket, then 100 ms per unit: 100, 200, 300 ms of delay, then rejection
    assert.deepEqual(statuses, [1, 1, 1, 1, 1, QUEUE, QUEUE, QUEUE, REJECT, REJECT]);
  });
});

describe('buckets at rates whose emission interval is fractional (epoch-ms times hold ~2^-12 ms)', () => {
  const WINDOWS = [1_000, 60_000, 3_600_000];
  /** Every rate 1..100 per s, m and h with the given bursts. */
  const demands = (bursts: number[]): Demand[] =>
    WINDOWS.flatMap((windowMs) => Array.from({ length: 100 }, (_, i) => i + 1).flatMap((limit) => bursts.map((burst) => ({ limit, windowMs, burst, cost: 1, maxDelayMs: 0, queue: false }))));
  const instants = [EDGE, EDGE + 1, EDGE + 9_973, EDGE + 60_001];

  it('leaky bucket: an empty bucket admits a request that fills it exactly (cost = burst)', () => {
    const refused: string[] = [];
    for (const d of demands([1, 2, 5, 10])) {
      for (const now of instants) {
        const r = result();
        leakyBucket.evaluate(undefined, { ...d, cost: d.burst }, now, r);
        if (r.status === REJECT) refused.push(`${d.limit}/${d.windowMs} ms burst ${d.burst} at +${now - EDGE}`);
      }
    }
    assert.deepEqual(refused.slice(0, 5), [], `${refused.length} refused`);
  });

  it('leaky bucket: a burst of unit requests at one instant admits exactly burst of them', () => {
    const wrong: string[] = [];
    for (const d of demands([1, 2, 5, 10, 50])) {
      for (const now of instants) {
        let s: ReturnType<typeof leakyBucket.consume> | undefined;
        let admitted = 0;
        for (let i = 0; i <= d.burst; i++) {
          const r = result();
          leakyBucket.evaluate(s, d, now, r);
          if (r.status === REJECT) break;
          s = leakyBucket.consume(s, d, now, true, null);
          admitted++;
        }
        if (admitted !== d.burst) wrong.push(`${d.limit}/${d.windowMs} ms burst ${d.burst} at +${now - EDGE}: ${admitted}`);
      }
    }
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} wrong`);
  });

  const fractional = fc.record({
    limit: fc.integer({ min: 1, max: 100 }),
    windowMs: fc.constantFrom(...WINDOWS),
    burst: fc.integer({ min: 1, max: 20 }),
  });
  const buckets: Array<[string, LocalAlgorithm<unknown>]> = [
    ['token bucket', tokenBucket as LocalAlgorithm<unknown>],
    ['leaky bucket', leakyBucket as LocalAlgorithm<unknown>],
  ];
  for (const [name, alg] of buckets) {
    it(`${name}: after an admission exactly "remaining" more unit requests pass at the same instant, at any rate`, () => {
      fc.assert(
        fc.property(fractional, steps(1), startOffset, (rate, seq, off) => {
          const base = { ...rate, maxDelayMs: 0, queue: false };
          const d = { ...base, cost: 1 };
          const { state, t } = run(alg, base, EDGE - off, seq);
          let s = structuredClone(state);
          const r = result();
          alg.evaluate(s, d, t, r);
          if (r.status === REJECT) return;
          s = alg.consume(s, d, t, true, 'x');
          let passed = 0;
          for (; passed <= rate.burst; passed++) {
            const next = result();
            alg.evaluate(s, d, t, next);
            if (next.status === REJECT) break;
            s = alg.consume(s, d, t, true, null);
          }
          assert.equal(passed, r.remaining);
        }),
        { ...RUNS, numRuns: 400 },
      );
    });

    it(`${name}: a rejected request passes at its Retry-After and not a ms earlier, at any rate`, () => {
      fc.assert(
        fc.property(fractional, steps(3), startOffset, fc.integer({ min: 1, max: 3 }), (rate, seq, off, cost) => {
          const base = { ...rate, maxDelayMs: 0, queue: false };
          const d = { ...base, cost };
          const { state, t } = run(alg, base, EDGE - off, seq);
          const r = result();
          alg.evaluate(structuredClone(state), d, t, r);
          if (r.status === REJECT && cost <= rate.burst) {
            const at = result();
            alg.evaluate(structuredClone(state), d, t + r.waitMs, at);
            assert.notEqual(at.status, REJECT, `still rejected ${r.waitMs} ms later`);
            if (r.waitMs > 1) {
              const before = result();
              alg.evaluate(structuredClone(state), d, t + r.waitMs - 1, before);
              assert.equal(before.status, REJECT, `Retry-After ${r.waitMs} ms, but it passes 1 ms earlier`);
            }
          }
        }),
        { ...RUNS, numRuns: 400 },
      );
    });
  }
});

describe('concurrency', () => {
  it('never holds more leases than the limit, counting releases and expiries', () => {
    const base = { limit: 3, windowMs: 500, burst: 3, cost: 1, maxDelayMs: 0, queue: false };
    const events = fc.array(
      fc.record({ dt: fc.integer({ min: 0, max: 200 }), release: fc.boolean(), pick: fc.nat() }),
      { minLength: 1, maxLength: 200 },
    );
    fc.assert(
      fc.property(events, (evs) => {
        let s: ReturnType<typeof concurrency.consume> | undefined;
        let t = EDGE;
        const live = new Map<string, number>(); // id → expiry, as the model
        let n = 0;
        for (const e of evs) {
          t += e.dt;
          for (const [id, exp] of live) if (exp <= t) live.delete(id);
          if (e.release && live.size > 0) {
            const id = [...live.keys()][e.pick % live.size]!;
            live.delete(id);
            concurrency.refund(s!, base, t, id);
            continue;
          }
          const r = result();
          concurrency.evaluate(s, base, t, r);
          assert.equal(r.status !== REJECT, live.size < base.limit, `at ${live.size} in flight the answer was ${r.status}`);
          if (r.status !== REJECT) {
            const id = `l${n++}`;
            s = concurrency.consume(s, base, t, true, id);
            live.set(id, t + base.windowMs);
          }
          assert.ok(live.size <= base.limit);
        }
      }),
      RUNS,
    );
  });
});

describe('concurrency idle', () => {
  it('idle past idleMs after its last lease, its state answers exactly as no state', () => {
    const base = { limit: 3, windowMs: 500, burst: 3, cost: 1, maxDelayMs: 0, queue: false };
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 2_000 }), (gaps, extra) => {
        let s: ReturnType<typeof concurrency.consume> | undefined;
        let t = EDGE;
        gaps.forEach((dt, i) => {
          t += dt;
          const r = result();
          concurrency.evaluate(s, base, t, r);
          if (r.status !== REJECT) s = concurrency.consume(s, base, t, true, `l${i}`);
        });
        const later = t + concurrency.idleMs(base) + extra;
        const kept = result();
        const none = result();
        concurrency.evaluate(s, base, later, kept);
        concurrency.evaluate(undefined, base, later, none);
        assert.deepEqual(kept, none);
      }),
      RUNS,
    );
  });
});

describe('every algorithm', () => {
  const cases: Array<[string, LocalAlgorithm<unknown>, Omit<Demand, 'cost'>]> = [
    ['fixed window', fixedWindow as LocalAlgorithm<unknown>, { limit: 10, windowMs: W, burst: 10, maxDelayMs: 0, queue: false }],
    ['sliding window log', slidingWindowLog as LocalAlgorithm<unknown>, { limit: 10, windowMs: W, burst: 10, maxDelayMs: 0, queue: false }],
    ['sliding window counter', slidingWindowCounter as LocalAlgorithm<unknown>, { limit: 10, windowMs: W, burst: 10, maxDelayMs: 0, queue: false }],
    ['token bucket', tokenBucket as LocalAlgorithm<unknown>, { limit: 10, windowMs: W, burst: 15, maxDelayMs: 0, queue: false }],
    ['leaky bucket', leakyBucket as LocalAlgorithm<unknown>, { limit: 10, windowMs: W, burst: 5, maxDelayMs: 0, queue: false }],
    ['leaky bucket (queue)', leakyBucket as LocalAlgorithm<unknown>, { limit: 10, windowMs: W, burst: 5, maxDelayMs: 250, queue: true }],
  ];

  for (const [name, alg, base] of cases) {
    it(`${name}: a rejected request retried after its Retry-After passes, and resetMs equals Retry-After`, () => {
      fc.assert(
        fc.property(steps(3), startOffset, fc.integer({ min: 1, max: 3 }), (seq, off, cost) => {
          const { state, t } = run(alg, base, EDGE - off, seq);
          const d = { ...base, cost };
          const r = result();
          alg.evaluate(structuredClone(state), d, t, r);
          if (r.status !== REJECT) return;
          assert.equal(r.resetMs, r.waitMs);
          const later = result();
          alg.evaluate(structuredClone(state), d, t + r.waitMs, later);
          assert.notEqual(later.status, REJECT, `still rejected ${r.waitMs} ms later`);
        }),
        RUNS,
      );
    });

    it(`${name}: idle past idleMs, its state answers exactly as no state (what the memory store's lazy expiry relies on)`, () => {
      fc.assert(
        fc.property(steps(3), startOffset, fc.integer({ min: 1, max: 3 * W }), fc.integer({ min: 1, max: 3 }), (seq, off, extra, cost) => {
          const { state, t } = run(alg, base, EDGE - off, seq);
          const d = { ...base, cost };
          const later = t + alg.idleMs(d) + extra;
          const kept = result();
          const none = result();
          alg.evaluate(structuredClone(state), d, later, kept);
          alg.evaluate(undefined, d, later, none);
          assert.deepEqual(kept, none);
        }),
        RUNS,
      );
    });

    if (!base.queue) {
      it(`${name}: after an admission exactly "remaining" more unit requests pass at the same instant`, () => {
        fc.assert(
          fc.property(steps(3), startOffset, (seq, off) => {
            const { state, t } = run(alg, base, EDGE - off, seq);
            let s = structuredClone(state);
            const r = result();
            alg.evaluate(s, { ...base, cost: 1 }, t, r);
            if (r.status === REJECT) return;
            s = alg.consume(s, { ...base, cost: 1 }, t, true, 'x');
            let passed = 0;
            for (;;) {
              const next = result();
              alg.evaluate(s, { ...base, cost: 1 }, t, next);
              if (next.status === REJECT) break;
              s = alg.consume(s, { ...base, cost: 1 }, t, true, `y${passed}`);
              passed++;
            }
            assert.equal(passed, r.remaining);
          }),
          RUNS,
        );
      });
    }
  }
});
