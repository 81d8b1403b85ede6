/**
 * Load signals per service from the call events: p50/p99 upstream latency, the 5xx/timeout ratio
 * and the request count over a sliding window, plus each tier's share of the demand (what priority
 * shedding divides). Pure and bounded: events are bucketed by their completion time into the slots
 * of a ring (a twentieth of the window, at least 250 ms: at most 21 latency sketches of 1 KiB per
 * service); a window is read by merging its slots. Services, and tiers per service, are capped;
 * what does not fit is counted, not kept.
 *
 * Completion time (ts + latencyMs), not arrival time (ts): the sidecar stamps ts when the request
 * arrives but publishes the event when it completes, so a slow request — the very evidence of
 * overload, a 504 after the upstream timeout included — arrives here latencyMs after its ts.
 * Bucketed by ts it would be older than the window when it arrives and be dropped as late; by
 * completion time it is as fresh as the fast ones published beside it. Lateness is then only the
 * delivery delay, judged per service against that service's newest event: an event completed more
 * than the window before it is outside every window read from now on (signals() reads back from
 * the newest event), so dropping it (counted in `late`) loses nothing a read could see.
 *
 * Sidecar clocks: no event can complete after the analyzer receives it, so a completion time
 * ahead of the analyzer's clock is that sidecar's clock running ahead. Left as stamped, one such
 * event would become its service's newest and make every correctly stamped event of the service
 * late (the ring holds one window) for as long as the skew lasts. So a completion time ahead of
 * the clock is clamped to the clock (counted in `ahead`): the event still counts, as completing
 * when it arrived, and the service's newest event — the window's anchor — is never ahead of the
 * analyzer's clock, whatever one pod's clock says. One completing more than MAX_CLOCK_SKEW_MS
 * (60 s) ahead is a bad event: ignored, counted in `future`. (A pod whose clock is behind only has
 * its own events dropped as late once it is a window behind the others.)
 *
 * Which events say something about the upstream: only forwarded ones — decision `allowed` or
 * `shadow_limited` (`queued` ones too for errors, but not for latency: their latency includes our
 * own pacing delay). Requests the sidecar answered itself never reached the upstream: 429, 403,
 * the adaptive limiter's 503 (`limited`, rule SHED_RULE), and every event marked `selfAnswered`
 * (a 503 while draining, a 400/401/413 refusal, a shed — whatever its decision); they count as
 * demand only. Status 499 (the client left) is no sample. An error is any 5xx the upstream gave,
 * or the sidecar's 502/504 when it could not reach it — and it is also a latency sample at the
 * time it took (how long the request waited: a lower bound of the upstream's latency), so that a
 * p99 target sees timeouts and an outage even without an errorRate target.
 */
import type { CallEvent } from '../../models/events.js';
import { MAX_CLOCK_SKEW_MS } from '../ingest/eventTime.js';
import { LatencySketch } from './latencySketch.js';

export interface LoadSignals {
  readonly service: string;
  /** Window the signals cover, ms, ending at `at`. */
  readonly windowMs: number;
  readonly at: number;
  /** Forwarded requests (latency samples + errors). */
  readonly count: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Errors / forwarded, null without forwarded requests. */
  readonly errorRate: number | null;
  /** Requests per tier, every decision (the demand priority shedding divides). Read with Object.hasOwn: tier names may be `constructor`, `toString`…. */
  readonly tierDemand: Readonly<Record<string, number>>;
  /** Gauges scraped from the upstream's Prometheus endpoint (name → value), when configured. */
  readonly gauges: Readonly<Record<string, number>>;
}

export interface LoadWatcherOptions {
  /** Sliding window, ms (default 5 s; rounded to whole slots). */
  readonly windowMs?: number;
  /** Services tracked at most (default 256). */
  readonly maxServices?: number;
  /** Distinct tiers per service (default 32; more count as `other`). */
  readonly maxTiers?: number;
  /** A service whose newest event is further than this from the clock has no current signal (default 10 s). */
  readonly staleMs?: number;
  /** The analyzer's clock, to bound event times (default Date.now). */
  readonly clock?: () => number;
}

class Slot {
  epoch = -1;
  forwarded = 0;
  errors = 0;
  readonly latency = new LatencySketch();
  readonly tiers = new Map<string, number>();

  reset(epoch: number): void {
    this.epoch = epoch;
    this.forwarded = 0;
    this.errors = 0;
    this.latency.reset();
    this.tiers.clear();
  }
}

class ServiceWindow {
  readonly slots: Slot[];
  /** Newest completion time seen. */
  lastSeen = 0;
  /** Slot of the newest completion time: older than a ring behind it is late (per service, so one service's events never make another's late). */
  newestEpoch = -Infinity;
  constructor(n: number) {
    this.slots = Array.from({ length: n }, () => new Slot());
  }

  /** Empties the window (the clock stepped back: its slots and anchor lie in the new clock's future). */
  restart(): void {
    for (const slot of this.slots) slot.reset(-1);
    this.lastSeen = 0;
    this.newestEpoch = -Infinity;
  }
}

export class LoadWatcher {
  readonly windowMs: number;
  /** Slot length: windowMs / 20, at least 250 ms, in whole 250 ms. */
  readonly slotMs: number;
  private readonly slotCount: number;
  /** Services tracked at most: events of any other are dropped (counted in `droppedServices`). */
  readonly maxServices: number;
  private readonly maxTiers: number;
  private readonly staleMs: number;
  private readonly services = new Map<string, ServiceWindow>();
  /** Events for services past the cap. */
  droppedServices = 0;
  /** Events that completed more than the window before their service's newest event when they arrived. */
  late = 0;
  /** Events completing more than MAX_CLOCK_SKEW_MS after the clock (a sidecar's clock ahead), ignored. */
  future = 0;
  /** Events completing after the clock (a sidecar's clock ahead), counted as completing at the clock. */
  ahead = 0;
  private readonly clock: () => number;

  constructor(opts: LoadWatcherOptions = {}) {
    const requested = Math.max(250, opts.windowMs ?? 5_000);
    this.slotMs = Math.max(250, Math.ceil(requested / 20 / 250) * 250);
    this.windowMs = Math.max(this.slotMs, Math.round(requested / this.slotMs) * this.slotMs);
    this.slotCount = this.windowMs / this.slotMs + 1; // + the slot being filled
    this.maxServices = opts.maxServices ?? 256;
    this.maxTiers = opts.maxTiers ?? 32;
    this.staleMs = opts.staleMs ?? 10_000;
    this.clock = opts.clock ?? Date.now;
  }

  observe(events: readonly CallEvent[]): void {
    if (events.length === 0) return;
    const now = this.clock();
    for (let i = 0; i < events.length; i++) this.add(events[i]!, now);
  }

  /** `now`: the analyzer's clock when the event arrived (default: the clock). */
  add(e: CallEvent, now = this.clock()): void {
    let done = e.ts + e.latencyMs;
    if (!(done <= now + MAX_CLOCK_SKEW_MS)) {
      this.future++;
      return;
    }
    // a sidecar clock ahead of ours: the event completed by now; clamped, it cannot become the
    // service's newest event far ahead of the others and make them late (see the header)
    if (done > now) {
      done = now;
      this.ahead++;
    }
    let w = this.services.get(e.service);
    if (w === undefined) {
      if (this.services.size >= this.maxServices) {
        this.droppedServices++;
        return;
      }
      w = new ServiceWindow(this.slotCount);
      this.services.set(e.service, w);
    } else if (w.lastSeen > now) {
      // the newest event is clamped to the clock when it arrives, so only a clock that stepped back
      // since puts it ahead: anchored there, every event from now on would be dropped as late (and
      // the service read as stale) until the clock caught up. The window starts again at the new clock.
      w.restart();
    }
    const epoch = Math.floor(done / this.slotMs);
    if (epoch > w.newestEpoch) w.newestEpoch = epoch;
    if (epoch <= w.newestEpoch - this.slotCount) {
      this.late++;
      return;
    }
    const slot = w.slots[epoch % this.slotCount]!;
    if (slot.epoch !== epoch) {
      if (slot.epoch > epoch) {
        this.late++;
        return;
      }
      slot.reset(epoch);
    }
    if (done > w.lastSeen) w.lastSeen = done;
    const tier = e.tier ?? '';
    const held = slot.tiers.get(tier);
    if (held !== undefined) slot.tiers.set(tier, held + 1);
    else if (slot.tiers.size < this.maxTiers) slot.tiers.set(tier, 1);
    else slot.tiers.set('other', (slot.tiers.get('other') ?? 0) + 1);
    // answered by the sidecar itself (draining, refused, shed): demand, but no upstream signal
    if (e.selfAnswered === true) return;
    const d = e.decision;
    if (d === 'allowed' || d === 'shadow_limited' || d === 'queued') {
      const status = e.status;
      if (status === 499) return;
      slot.forwarded++;
      if (status >= 500) slot.errors++;
      // an error is a latency sample too (at least that slow: a timeout waited that long)
      if (d !== 'queued') slot.latency.add(e.latencyMs);
    }
  }

  /** Services held (each with its window), at most `maxServices`. */
  get serviceCount(): number {
    return this.services.size;
  }

  /** Services with a current signal: their newest event within `staleMs` of `now`. */
  activeServices(now: number): string[] {
    const out: string[] = [];
    for (const [name, w] of this.services) if (Math.abs(now - w.lastSeen) <= this.staleMs) out.push(name);
    return out;
  }

  /** Forgets services without events for `idleMs` (bounded state when services come and go). */
  prune(now: number, idleMs = 10 * 60_000): number {
    let n = 0;
    for (const [name, w] of this.services) {
      if (w.lastSeen < now - idleMs) {
        this.services.delete(name);
        n++;
      }
    }
    return n;
  }

  /**
   * The signals over the last windowMs of the service's events, (at − windowMs, at] to the slot.
   * Anchored at the newest event rather than the clock, so consumer lag does not empty the window
   * (and the newest event is never ahead of the clock: add() clamps it); a
   * service whose newest event is more than `staleMs` from `now` is read at `now` (an empty window
   * once its events are gone). `at` is that anchor: it moves only when new events arrive.
   */
  signals(service: string, now: number, gauges: Readonly<Record<string, number>> = {}): LoadSignals {
    const w = this.services.get(service);
    const latency = new LatencySketch();
    let forwarded = 0;
    let errors = 0;
    // a Map, not an object: a tier may be called `constructor` or `toString` (valid tier names)
    const demand = new Map<string, number>();
    const at = w !== undefined && Math.abs(now - w.lastSeen) <= this.staleMs ? w.lastSeen : now;
    if (w) {
      const last = Math.floor(at / this.slotMs);
      const first = Math.floor((at - this.windowMs) / this.slotMs) + 1;
      for (const slot of w.slots) {
        if (slot.epoch < first || slot.epoch > last) continue;
        forwarded += slot.forwarded;
        errors += slot.errors;
        latency.merge(slot.latency);
        for (const [tier, n] of slot.tiers) demand.set(tier, (demand.get(tier) ?? 0) + n);
      }
    }
    return {
      service,
      windowMs: this.windowMs,
      at,
      count: forwarded,
      p50Ms: latency.quantile(0.5),
      p99Ms: latency.quantile(0.99),
      errorRate: forwarded > 0 ? errors / forwarded : null,
      // own properties only; readers use Object.hasOwn
      tierDemand: Object.fromEntries(demand),
      gauges,
    };
  }
}
