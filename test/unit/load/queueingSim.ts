/**
 * A deterministic discrete-event model of the load experiment, for unit tests of the adaptive
 * limiter: open-loop arrivals (seeded Poisson) with a tier mix, the PriorityLimiter in front, and a
 * fixed-capacity upstream like simulator/stub-upstream.ts (W workers, log-normal service time,
 * bounded queue, 503 past it). No real time passes: the limiter's clock is the model's clock.
 */
import { Rng } from '../../../simulator/random.js';
import { PriorityLimiter, type Permit, type Waiter, type LimiterOptions } from '../../../sidecar/adaptive/priorityLimiter.js';
import type { ConcurrencyLimit } from '../../../sidecar/adaptive/limit.js';

export interface SimUpstream {
  readonly workers: number;
  readonly serviceMs: number;
  readonly queueLimit: number;
  /** One-way network delay, ms. */
  readonly hopMs?: number;
}

export interface SimTier {
  readonly tier: string;
  readonly priority: number;
  readonly share: number;
}

export interface SimStep {
  readonly ratePerSec: number;
  readonly durationMs: number;
}

export interface TierResult {
  offered: number;
  ok: number;
  shed: number;
  upstream503: number;
  latencies: number[];
  /** Arrival time of each success (parallel to latencies). */
  arrivals: number[];
  /** Arrival times of shed requests. */
  shedAt: number[];
}

export interface SimResult {
  readonly tiers: Record<string, TierResult>;
  /** (time, limit) after each completion, sampled every 100 ms of model time. */
  readonly limits: Array<{ t: number; limit: number }>;
  /** Successes per 100 ms bin. */
  readonly goodput: number[];
  readonly maxUpstreamQueue: number;
}

interface Ev {
  t: number;
  seq: number;
  run: () => void;
}

class Heap {
  private a: Ev[] = [];
  get size(): number {
    return this.a.length;
  }
  push(e: Ev): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p]!, a[i]!)) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): Ev {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
function less(x: Ev, y: Ev): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

export function simulate(opts: {
  limit: ConcurrencyLimit | null;
  upstream: SimUpstream;
  tiers: readonly SimTier[];
  steps: readonly SimStep[];
  seed?: string;
  limiter?: Partial<LimiterOptions>;
}): SimResult & { limiter: PriorityLimiter | null } {
  const rng = new Rng(opts.seed ?? 'sim');
  const heap = new Heap();
  let now = 0;
  let seq = 0;
  const at = (t: number, run: () => void): void => heap.push({ t, seq: seq++, run });
  const hop = opts.upstream.hopMs ?? 0.5;
  const tiers: Record<string, TierResult> = {};
  for (const t of opts.tiers) tiers[t.tier] = { offered: 0, ok: 0, shed: 0, upstream503: 0, latencies: [], arrivals: [], shedAt: [] };
  const limits: Array<{ t: number; limit: number }> = [];
  const goodput: number[] = [];
  let lastLimitSample = -Infinity;

  // upstream
  let busy = 0;
  let maxQueue = 0;
  const queue: Array<() => void> = [];
  const upstreamCall = (answer: (status: number) => void): void => {
    const run = (): void => {
      busy++;
      const service = rng.logNormal(opts.upstream.serviceMs, 0.2);
      at(now + service, () => {
        busy--;
        answer(200);
        const next = queue.shift();
        if (next) next();
      });
    };
    if (busy < opts.upstream.workers) run();
    else if (queue.length < opts.upstream.queueLimit) {
      queue.push(run);
      if (queue.length > maxQueue) maxQueue = queue.length;
    } else answer(503);
  };

  let sweepAt = Infinity;
  const limiter = opts.limit ? new PriorityLimiter(opts.limit, { clock: () => now, ...opts.limiter }) : null;
  const armAt = (t: number): void => {
    sweepAt = t;
    at(t, () => {
      if (sweepAt !== t) return;
      sweepAt = Infinity;
      const next = limiter!.sweep(now);
      if (next !== null) armAt(next);
    });
  };
  const armSweep = (): void => {
    if (!limiter || limiter.queued === 0) return;
    const t = now + limiter.maxWaitMs;
    if (t < sweepAt) armAt(t);
  };

  const record = (tier: TierResult, arrived: number, status: number): void => {
    if (status === 200) {
      tier.ok++;
      tier.latencies.push(now - arrived);
      tier.arrivals.push(arrived);
      const bin = Math.floor(now / 100);
      goodput[bin] = (goodput[bin] ?? 0) + 1;
    } else if (status === 503) tier.upstream503++;
  };

  const arrive = (t: SimTier): void => {
    const stats = tiers[t.tier]!;
    stats.offered++;
    const arrived = now;
    const forward = (permit: Permit | null): void => {
      const sent = now;
      at(now + hop, () =>
        upstreamCall((status) =>
          at(now + hop, () => {
            if (permit) {
              if (status === 503) permit.dropped(now - sent);
              else permit.success(now - sent);
              if (now - lastLimitSample >= 100) {
                lastLimitSample = now;
                limits.push({ t: now, limit: limiter!.limit });
              }
            }
            record(stats, arrived, status);
          }),
        ),
      );
    };
    if (!limiter) return forward(null);
    const waiter: Waiter = {
      onAdmit: (permit) => forward(permit),
      onShed: () => {
        stats.shed++;
        stats.shedAt.push(arrived);
      },
    };
    limiter.admit(t.priority, waiter, t.tier);
    armSweep();
  };

  // arrivals, step by step
  let start = 0;
  const totalShare = opts.tiers.reduce((s, t) => s + t.share, 0);
  for (const step of opts.steps) {
    let t = start;
    const end = start + step.durationMs;
    for (;;) {
      t += rng.exponential(step.ratePerSec / 1000);
      if (t >= end) break;
      let u = rng.float() * totalShare;
      let tier = opts.tiers[0]!;
      for (const candidate of opts.tiers) {
        u -= candidate.share;
        if (u <= 0) {
          tier = candidate;
          break;
        }
      }
      const chosen = tier;
      at(t, () => arrive(chosen));
    }
    start = end;
  }
  while (heap.size > 0) {
    const e = heap.pop();
    now = e.t;
    e.run();
  }
  return { tiers, limits, goodput, maxUpstreamQueue: maxQueue, limiter };
}

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
