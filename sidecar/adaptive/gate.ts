/**
 * The adaptive concurrency limit as the sidecar's request path sees it: a PriorityLimiter over the
 * policy's strategy, tiers mapped to their `shedPriority`, a timer that sheds waiters whose wait is
 * over, and the metrics. Exists only when the policy sets `upstream.adaptiveConcurrency`.
 *
 * Where it sits in a request (sidecar/handler.ts): after identity, before the engine — so a shed
 * request never reaches the rate limiter and costs the client no budget. The permit is released when
 * the upstream's response headers arrive (a sample: the RTT to them, and whether the status says the
 * upstream dropped it) — the body never holds a slot, so a stream, a long poll or a large download
 * does not starve everyone else — or when the forward fails before them (a drop; no sample when the
 * client went away), or without a sample when the request was not forwarded (429/403/400, aborted).
 * A `queue` verdict (leaky-bucket delay) releases its permit before the delay, and the delayed
 * forward bypasses the limit: its budget is already spent, and holding a slot through a pacing
 * delay would starve others.
 */
import type { Registry } from 'prom-client';
import type { AdaptiveConcurrency, Policy } from '../../models/policy/index.js';
import { createLimit } from './createLimit.js';
import { adaptiveMetrics, type AdaptiveMetrics } from './metrics.js';
import { PriorityLimiter, type LimiterStats, type Permit, type Ticket, type Waiter } from './priorityLimiter.js';
import type { WindowOptions } from './windowedLimit.js';

export interface AdaptiveGateOptions {
  /** The sidecar's metrics registry (gauges and shed counter are added to it). */
  readonly registry?: Registry | null;
  /** Monotonic ms (default performance.now). */
  readonly clock?: () => number;
  /** Fixed wait bound for a slot, ms (default automatic; see PriorityLimiter). */
  readonly maxWaitMs?: number;
  readonly maxQueue?: number;
  readonly window?: WindowOptions;
}

export class AdaptiveGate {
  readonly limiter: PriorityLimiter;
  private priorities = new Map<string, number>();
  private lowestPriority = 0;
  private config: AdaptiveConcurrency;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private readonly clock: () => number;
  private readonly metrics: AdaptiveMetrics | null;

  constructor(
    policy: Policy,
    private readonly opts: AdaptiveGateOptions = {},
  ) {
    const config = policy.upstream.adaptiveConcurrency;
    if (!config) throw new TypeError('AdaptiveGate needs upstream.adaptiveConcurrency in the policy');
    this.config = config;
    this.clock = opts.clock ?? (() => performance.now());
    this.metrics = opts.registry ? adaptiveMetrics(opts.registry) : null;
    const metrics = this.metrics;
    this.limiter = new PriorityLimiter(createLimit(config, opts.window), {
      clock: this.clock,
      ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}),
      ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}),
      ...(metrics ? { onShed: (_p: number, _r: unknown, tier: string) => metrics.countShed(tier) } : {}),
    });
    this.setTiers(policy);
    metrics?.watch(() => this.limiter.stats());
  }

  /** The tier's shed priority (unknown tiers are shed with the least important). */
  priorityOf(tier: string): number {
    return this.priorities.get(tier) ?? this.lowestPriority;
  }

  /**
   * Admits, queues or sheds the request; the waiter's callbacks may run before this returns.
   * Returns its place when it waits (for `withdraw`), else null.
   */
  admit(tier: string, waiter: Waiter): Ticket | null {
    const ticket = this.limiter.admit(this.priorityOf(tier), waiter, tier);
    if (this.limiter.queued > 0) this.arm();
    return ticket;
  }

  /** A waiting request's client left: it leaves the queue without being admitted or shed. */
  withdraw(ticket: Ticket): boolean {
    return this.limiter.withdraw(ticket);
  }

  stats(): LimiterStats {
    return this.limiter.stats();
  }

  /** Hot reload: tier priorities follow at once; a changed strategy or bounds start a fresh estimate. */
  setPolicy(policy: Policy): void {
    const next = policy.upstream.adaptiveConcurrency;
    if (next && JSON.stringify(next) !== JSON.stringify(this.config)) {
      this.config = next;
      this.limiter.setStrategy(createLimit(next, this.opts.window));
    }
    this.setTiers(policy);
  }

  /**
   * Answers every waiting request now (shutdown: 503 shutting_down, not counted as shed), so each is
   * finished — and evented — before the event sink closes.
   */
  shedWaiting(): void {
    this.limiter.shedAll();
  }

  /**
   * Hot reload removed the limit: every request still waiting for a slot is admitted now. The
   * operator took the limit away, so a waiter goes on as a request arriving a moment later would
   * (no limit), rather than being shed with a 503 for a limit that no longer exists, or left queued
   * with no sweep timer until an old in-flight request happened to settle. Their permits belong to
   * this gate's limiter, which nobody asks any more; settling them is harmless.
   */
  admitWaiting(): number {
    return this.limiter.admitAll();
  }

  /**
   * The gate is done with: stops the sweep timer and the gauges. Nobody may stay queued without a
   * timer to shed them, so whoever still waits is admitted (admitWaiting); at shutdown the server
   * sheds the waiters first (shedWaiting), so none are left by then.
   */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    this.metrics?.watch(null);
    this.admitWaiting();
  }

  private setTiers(policy: Policy): void {
    const map = new Map<string, number>();
    let lowest = 0;
    for (const [name, t] of Object.entries(policy.tiers)) {
      map.set(name, t.shedPriority);
      if (t.shedPriority > lowest) lowest = t.shedPriority;
    }
    this.priorities = map;
    this.lowestPriority = lowest;
    this.metrics?.setTiers([...map.keys()]);
  }

  /** One timer at the earliest waiter deadline; re-armed by the sweep while anyone waits. */
  private arm(): void {
    const now = this.clock();
    const at = now + this.limiter.maxWaitMs;
    if (this.timer !== null && this.timerAt <= at) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(at - now)));
    this.timer.unref();
  }

  /**
   * The timer only schedules the sweep for the check phase (setImmediate): after an event-loop stall
   * (GC, a busy CPU) the timers phase runs before the poll phase, so sweeping at once would shed
   * waiters whose slots are already free in responses not yet read. Reading those first is fair.
   */
  private readonly onTimer = (): void => {
    setImmediate(this.sweep);
  };

  private readonly sweep = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const next = this.limiter.sweep(this.clock());
    if (next !== null) {
      const now = this.clock();
      this.timerAt = next;
      this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(next - now)));
      this.timer.unref();
    }
  };
}

/**
 * Keeps, updates, creates or drops the gate as the policy says (start-up and hot reload). A kept
 * gate keeps its waiters (a new strategy or bounds may admit some at once); a dropped gate admits
 * its waiters before it goes (AdaptiveGate.admitWaiting: there is no limit any more).
 */
export function adaptiveGateFor(current: AdaptiveGate | null, policy: Policy, opts: AdaptiveGateOptions = {}): AdaptiveGate | null {
  if (!policy.upstream.adaptiveConcurrency) {
    current?.close(); // stops the timer and the gauges, admits whoever waits
    return null;
  }
  if (current) {
    current.setPolicy(policy);
    return current;
  }
  return new AdaptiveGate(policy, opts);
}

/** Statuses by which an upstream (or a proxy in front of it) says it is overloaded or unreachable. */
function isDropStatus(status: number): boolean {
  return status === 503 || status === 429 || status === 502 || status === 504;
}

/**
 * Settles a forwarded request's permit from the proxy's result: a sample with the RTT to response
 * headers, dropped when the upstream failed or answered overloaded, no sample when the client went away.
 */
export function settleForward(permit: Permit, status: number, upstreamMs: number | null, failure: string | null, elapsedMs: number): void {
  if (failure === 'aborted') permit.ignore();
  else if (failure !== null) permit.dropped(upstreamMs ?? elapsedMs);
  else if (isDropStatus(status)) permit.dropped(upstreamMs ?? elapsedMs);
  else permit.success(upstreamMs ?? elapsedMs);
}
