/**
 * The analyzer's slow load loop, once per `analyzer.load.interval` (default 1 s): for each service
 * with traffic, read its signals (LoadWatcher, plus the upstream's gauges when `metricsUrl` is
 * set), let the controller move the service multiplier, divide it among the tiers by priority, and
 * publish it to `rw:ctl:load` field `<service>` through the ControlPlane:
 *
 *   {multiplier, since, reason, seq, until, tiers}
 *
 * - Published only on change (any multiplier moving by ≥ 0.005), with a human reason
 *   ("tighten ×0.64: p99 412ms > target 250ms; 5xx 3.1% > 1.0% — free ×0.2, pro ×0.9").
 * - `until` = now + TTL, TTL = 3 × interval + 2 s (5 s at the default interval): while a service is
 *   tightened the loop rewrites the same value every TTL/2 to push `until` forward (a refresh keeps
 *   `since` and the reason). If the analyzer dies, sidecars see `until` pass within one TTL and go
 *   back to multiplier 1 — a dead analyzer cannot pin a low multiplier. Back at 1 everywhere, one
 *   last "recovered" value is written and left to expire.
 * - On start it reads `rw:ctl:load` and resumes from multipliers still in force, so a restart
 *   neither jumps back to 1 nor forgets why. A resumed value counts as written at its `until` − TTL
 *   (not at the restart), and is refreshed at once when that is half a TTL ago: its `until` may be
 *   nearer than the next regular refresh, and the sidecars would drop it in between.
 * - A failed write is counted and retried on the next interval (the published state is unchanged).
 *
 * Several analyzer instances each see a share of the events (partitions by client); each computes
 * from its sample and writes the same field, so the last writer wins within an interval — run the
 * loop on one instance (or accept that) when services are small.
 */
import type { Registry } from 'prom-client';
import type { LoadValue } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import type { CallEvent } from '../../models/events.js';
import type { LoadConfig, Policy } from '../../models/policy/index.js';
import type { ControlStep, ControllerOptions, LoadController } from './controller.js';
import { createController } from './createController.js';
import { GaugeScraper, type FetchText } from './gaugeScraper.js';
import { LoadWatcher, type LoadSignals } from './loadWatcher.js';
import { loadMetrics, type LoadMetrics } from './metrics.js';
import { MultiplierHistory, type LoadHistoryPoint } from './multiplierHistory.js';
import { pressureOf, type Pressure } from './pressure.js';
import { shedByPriority } from './priorityShedding.js';

export type LoadLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface LoadControlOptions {
  readonly policy: Policy;
  readonly plane: ControlPlane;
  /** Epoch ms (default Date.now). */
  readonly clock?: () => number;
  /** The analyzer's metrics registry. */
  readonly registry?: Registry | null;
  readonly log?: LoadLog;
  /**
   * Default: a watcher whose window is max(1 s, interval) — each decision sees the last interval's
   * traffic (and the second in progress), i.e. evidence of the previous decision, not of the ones
   * before it: a longer window would keep tightening on samples from before the last cut. A reload
   * that changes that window replaces the default watcher (a new, empty window); one passed here is
   * the caller's and is kept.
   */
  readonly watcher?: LoadWatcher;
  /** For the metrics scrape (tests inject one). */
  readonly fetchText?: FetchText;
  readonly controller?: ControllerOptions;
  /** History points kept (default 2 000). */
  readonly historySize?: number;
}

export interface PublishedLoad {
  readonly multiplier: number;
  readonly tiers: Readonly<Record<string, number>>;
  readonly since: number;
  readonly until: number;
  readonly reason: string;
  readonly writtenAt: number;
}

export interface ServiceLoadView {
  readonly service: string;
  /** What the controller holds now (published or about to be). */
  readonly multiplier: number;
  readonly tiers: Readonly<Record<string, number>>;
  /** The value in rw:ctl:load as this loop last wrote it (null: never written). */
  readonly published: PublishedLoad | null;
  readonly action: ControlStep['action'] | null;
  readonly reason: string | null;
  readonly pressure: Pressure | null;
  readonly signals: Pick<LoadSignals, 'count' | 'p50Ms' | 'p99Ms' | 'errorRate' | 'gauges' | 'tierDemand' | 'windowMs' | 'at'> | null;
}

export interface LoadSnapshot {
  /** False when the policy has no `analyzer.load`. */
  readonly enabled: boolean;
  readonly config: LoadConfig | null;
  readonly ttlMs: number;
  readonly services: readonly ServiceLoadView[];
  /** Changes, oldest first (bounded). */
  readonly history: readonly LoadHistoryPoint[];
}

interface ServiceControl {
  controller: LoadController;
  tiers: Record<string, number>;
  published: PublishedLoad | null;
  step: ControlStep | null;
  signals: LoadSignals | null;
}

/** Smallest move worth a write. */
const EPSILON = 0.005;
const REASON_MAX = 1_000;

export function loadTtlMs(intervalMs: number): number {
  return 3 * intervalMs + 2_000;
}

export class LoadControlLoop {
  private currentWatcher: LoadWatcher;
  /** The window the default watcher was built for (null: the caller's watcher, never replaced). */
  private watcherWindowMs: number | null;
  readonly history: MultiplierHistory;
  private policy: Policy;
  private config: LoadConfig | null;
  private scraper: GaugeScraper | null = null;
  private readonly services = new Map<string, ServiceControl>();
  private readonly clock: () => number;
  private readonly log: LoadLog;
  private readonly metrics: LoadMetrics | null;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private lastGauges: Readonly<Record<string, number>> = {};
  private lastForget = -Infinity;
  /** start() was called (and stop() not since): reloads keep the timer running. */
  private started = false;

  constructor(private readonly opts: LoadControlOptions) {
    this.policy = opts.policy;
    this.config = opts.policy.analyzer.load;
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? (() => undefined);
    this.metrics = opts.registry ? loadMetrics(opts.registry) : null;
    this.watcherWindowMs = opts.watcher ? null : decisionWindowMs(this.config);
    this.currentWatcher = opts.watcher ?? new LoadWatcher({ windowMs: decisionWindowMs(this.config), clock: this.clock });
    this.history = new MultiplierHistory(opts.historySize ?? 2_000);
    this.scraper = this.makeScraper();
  }

  /** The signals' source (the default one is replaced by a reload that changes the interval). */
  get watcher(): LoadWatcher {
    return this.currentWatcher;
  }

  get enabled(): boolean {
    return this.config !== null;
  }

  get ttlMs(): number {
    return loadTtlMs(this.config?.intervalMs ?? 1_000);
  }

  /**
   * Feeds call events (the analyzer's consumer calls this with each batch). Numbers only, no I/O.
   * What the watcher does not use (services full, late, far-future) is counted in
   * `ratewarden_load_events_dropped_total{reason}`.
   */
  observe(events: readonly CallEvent[]): void {
    if (this.config === null) return;
    const w = this.watcher;
    const m = this.metrics;
    if (m === null) {
      w.observe(events);
      return;
    }
    const capped = w.droppedServices;
    const late = w.late;
    const future = w.future;
    const ahead = w.ahead;
    w.observe(events);
    if (w.droppedServices > capped) m.eventsDropped.inc({ reason: 'service_cap' }, w.droppedServices - capped);
    if (w.late > late) m.eventsDropped.inc({ reason: 'late' }, w.late - late);
    if (w.future > future) m.eventsDropped.inc({ reason: 'future' }, w.future - future);
    if (w.ahead > ahead) m.eventsClockAhead.inc(w.ahead - ahead);
    m.services.set(w.serviceCount);
  }

  /** Resumes from multipliers in force, then runs `tick` every interval (timer unref'd). */
  async start(): Promise<void> {
    this.started = true;
    if (this.config === null) return;
    await this.resume(this.clock()).catch((err: Error) => this.log('warn', 'load control: could not read rw:ctl:load; starting from 1', { err: err.message }));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking?.catch(() => undefined);
  }

  /** One control step for every service with traffic or a multiplier in force. Overlapping calls wait. */
  async tick(now: number = this.clock()): Promise<void> {
    while (this.ticking) await this.ticking.catch(() => undefined);
    const run = this.runTick(now);
    this.ticking = run;
    try {
      await run;
    } finally {
      this.ticking = null;
    }
  }

  setPolicy(policy: Policy): void {
    const before = this.config;
    this.policy = policy;
    this.config = policy.analyzer.load;
    if (JSON.stringify(before) === JSON.stringify(this.config)) return;
    this.scraper = this.makeScraper();
    if (this.config === null) {
      // values already written expire by their `until`; the gauges go with the services
      this.stopTimer();
      for (const [name, s] of this.services) this.dropSeries(name, s);
      this.services.clear();
      return;
    }
    const windowMs = decisionWindowMs(this.config);
    if (this.watcherWindowMs !== null && this.watcherWindowMs !== windowMs) {
      // the decision window follows the interval (max(1 s, interval)); the new one starts empty
      this.currentWatcher = new LoadWatcher({ windowMs, clock: this.clock });
      this.watcherWindowMs = windowMs;
    }
    const now = this.clock();
    for (const s of this.services.values()) {
      const m = s.controller.multiplier;
      s.controller = createController(this.config, this.opts.controller);
      s.controller.reset(m, now);
    }
    if (this.started && (before?.intervalMs !== this.config.intervalMs || this.timer === null)) {
      this.stopTimer();
      this.schedule();
    }
  }

  /** Everything the UI's load page shows: per service the multiplier, tiers, reason and signals, and the history. */
  getLoad(): LoadSnapshot {
    const services: ServiceLoadView[] = [];
    for (const [service, s] of this.services) {
      const sig = s.signals;
      services.push({
        service,
        multiplier: s.controller.multiplier,
        tiers: { ...s.tiers },
        published: s.published,
        action: s.step?.action ?? null,
        reason: s.step?.reason ?? null,
        pressure: s.step?.pressure ?? null,
        signals: sig ? { count: sig.count, p50Ms: sig.p50Ms, p99Ms: sig.p99Ms, errorRate: sig.errorRate, gauges: sig.gauges, tierDemand: sig.tierDemand, windowMs: sig.windowMs, at: sig.at } : null,
      });
    }
    return { enabled: this.config !== null, config: this.config, ttlMs: this.ttlMs, services, history: this.history.list() };
  }

  /** History in the operator API's LoadPoint shape (AnalyzerBackendParts.loadHistory). */
  list(): Array<{ ts: number; service: string; multiplier: number; reason: string }> {
    return this.history.list().map((p) => ({ ts: p.ts, service: p.service, multiplier: p.multiplier, reason: p.reason }));
  }

  // ---------------------------------------------------------------- internals

  private makeScraper(): GaugeScraper | null {
    const c = this.config;
    if (!c?.metricsUrl || Object.keys(c.gauges).length === 0) return null;
    try {
      return new GaugeScraper(c.metricsUrl, c.gauges, this.opts.fetchText, Math.max(250, Math.min(2_000, c.intervalMs)));
    } catch (err) {
      this.log('error', 'load control: gauges not scraped', { err: (err as Error).message });
      return null;
    }
  }

  private schedule(): void {
    if (this.config === null) return;
    this.timer = setInterval(() => {
      if (this.ticking) return; // a slow scrape or write: skip rather than pile up
      this.tick().catch((err: Error) => this.log('error', 'load control tick failed', { err: err.message }));
    }, this.config.intervalMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private control(service: string): ServiceControl {
    let s = this.services.get(service);
    if (!s) {
      s = { controller: createController(this.config!, this.opts.controller), tiers: {}, published: null, step: null, signals: null };
      this.services.set(service, s);
    }
    return s;
  }

  private async resume(now: number): Promise<void> {
    const state = await this.opts.plane.read();
    const config = this.config;
    if (config === null) return;
    const ttl = loadTtlMs(config.intervalMs);
    for (const [service, v] of state.load) {
      if (v.until === undefined || v.until <= now) continue;
      const restricted = v.multiplier < 1 || Object.values(v.tiers ?? {}).some((m) => m < 1);
      if (!restricted) continue;
      const s = this.control(service);
      s.controller.reset(v.multiplier, now);
      s.tiers = { ...(v.tiers ?? {}) };
      // written when its until was set (until − TTL), not now: the refresh is due by the value's own
      // clock, before its until passes at the sidecars
      const writtenAt = Math.min(now, v.until - ttl);
      s.published = { multiplier: v.multiplier, tiers: { ...(v.tiers ?? {}) }, since: v.since, until: v.until, reason: v.reason, writtenAt };
      this.history.add({ ts: now, service, multiplier: v.multiplier, tiers: s.tiers, reason: `resumed: ${v.reason}`, action: 'restore' });
      this.log('info', 'load control: resumed a multiplier in force', { service, multiplier: v.multiplier });
      // its until may be nearer than the first tick: refresh now when due (a failure is retried next tick)
      await this.refresh(service, s, now, config);
    }
  }

  private async runTick(now: number): Promise<void> {
    const config = this.config;
    if (config === null) return;
    if (this.scraper) {
      const scraped = await this.scraper.scrape();
      if (scraped === null) {
        this.metrics?.scrapeErrors.inc();
        this.lastGauges = {};
      } else this.lastGauges = scraped.values;
    }
    const names = new Set(this.watcher.activeServices(now));
    for (const [name, s] of this.services) if (s.published !== null && isRestricted(s.published)) names.add(name);
    for (const service of names) await this.step(service, now, config);
    if (now - this.lastForget >= 60_000) {
      this.lastForget = now;
      this.forgetIdle(now);
    }
    this.metrics?.services.set(this.watcher.serviceCount);
  }

  private async step(service: string, now: number, config: LoadConfig): Promise<void> {
    const s = this.control(service);
    const signals = this.watcher.signals(service, now, this.lastGauges);
    let judged = signals;
    if (s.signals !== null && signals.at === s.signals.at && s.step !== null && hasEventTargets(config)) {
      // no event since the last decision (consumer lag, or a pause): the window's latency and errors
      // were judged already, and judging them again would cut again on samples from before the last
      // cut. Only freshly scraped gauges are new evidence: one past its target tightens; else hold.
      const gaugesOnly: LoadSignals = { ...signals, count: 0, p50Ms: null, p99Ms: null, errorRate: null };
      if (this.scraper === null || !((pressureOf(gaugesOnly, config).value ?? 0) > 1)) {
        await this.refresh(service, s, now, config);
        return;
      }
      judged = gaugesOnly;
    }
    const step = s.controller.update(judged, now);
    const tiers = shedByPriority(step.multiplier, this.policy.tiers, signals.tierDemand, config.minMultiplier);
    // tiers a reload removed: their gauges go
    for (const tier of Object.keys(s.tiers)) if (!Object.hasOwn(tiers, tier)) this.metrics?.tierMultiplier.remove({ service, tier });
    s.step = step;
    s.signals = signals;
    s.tiers = tiers;
    this.metrics?.multiplier.set({ service }, step.multiplier);
    for (const [tier, m] of Object.entries(tiers)) this.metrics?.tierMultiplier.set({ service, tier }, m);
    // no usable signal: no pressure (not the last overload's, held forever)
    if (step.pressure.value !== null) this.metrics?.pressure.set({ service }, Math.round(step.pressure.value * 1e3) / 1e3);
    else this.metrics?.pressure.remove({ service });

    const prev = s.published;
    const restricted = step.multiplier < 1 || Object.values(tiers).some((m) => m < 1);
    const changed = prev === null ? restricted : moved(prev.multiplier, step.multiplier) || tiersMoved(prev.tiers, tiers);
    const ttl = loadTtlMs(config.intervalMs);
    if (changed) {
      const verb = !restricted ? 'recovered' : prev !== null && step.multiplier > prev.multiplier ? 'recover' : prev !== null && step.multiplier === prev.multiplier ? 'reshed' : 'tighten';
      const reason = clip(`${verb} ×${fmt(step.multiplier)}: ${step.reason}${tierText(tiers, step.multiplier)}`);
      const value: Omit<LoadValue, 'seq'> = { multiplier: step.multiplier, since: now, reason, until: now + ttl, ...(Object.keys(tiers).length ? { tiers } : {}) };
      if (await this.write(service, value, 'change')) {
        s.published = { multiplier: step.multiplier, tiers, since: now, until: now + ttl, reason, writtenAt: now };
        this.history.add({ ts: now, service, multiplier: step.multiplier, tiers, reason, action: restricted ? step.action : 'recover' });
        this.log('info', 'load multiplier changed', { service, multiplier: step.multiplier, tiers, reason });
      }
      return;
    }
    await this.refresh(service, s, now, config);
  }

  /** Pushes `until` forward while a restriction is in force (every TTL / 2), keeping since and reason. */
  private async refresh(service: string, s: ServiceControl, now: number, config: LoadConfig): Promise<void> {
    const prev = s.published;
    const ttl = loadTtlMs(config.intervalMs);
    // written in the clock's future (it stepped back): due now, so `until` is not left that far ahead
    if (prev !== null && isRestricted(prev) && (now - prev.writtenAt >= ttl / 2 || prev.writtenAt > now)) {
      const value: Omit<LoadValue, 'seq'> = { multiplier: prev.multiplier, since: prev.since, reason: prev.reason, until: now + ttl, ...(Object.keys(prev.tiers).length ? { tiers: prev.tiers } : {}) };
      if (await this.write(service, value, 'refresh')) s.published = { ...prev, until: now + ttl, writtenAt: now };
    }
  }

  private async write(service: string, value: Omit<LoadValue, 'seq'>, kind: 'change' | 'refresh'): Promise<boolean> {
    try {
      await this.opts.plane.write('load', service, value);
      this.metrics?.writes.inc({ kind });
      return true;
    } catch (err) {
      this.metrics?.writeErrors.inc();
      this.log('warn', 'load multiplier write failed; retried next interval', { service, err: (err as Error).message });
      return false;
    }
  }

  /** Services without traffic whose last value has expired: forget them (bounded state). */
  private forgetIdle(now: number): void {
    const active = new Set(this.watcher.activeServices(now));
    for (const [name, s] of this.services) {
      if (active.has(name)) continue;
      if (s.published === null || s.published.until <= now) {
        this.services.delete(name);
        this.dropSeries(name, s);
      }
    }
    this.watcher.prune(now);
  }

  /** Removes a service's gauges (it is forgotten, or load control is off). */
  private dropSeries(name: string, s: ServiceControl): void {
    this.metrics?.multiplier.remove({ service: name });
    this.metrics?.pressure.remove({ service: name });
    for (const tier of Object.keys(s.tiers)) this.metrics?.tierMultiplier.remove({ service: name, tier });
  }
}

/** A latency or error target: judged from the events' window (gauges are scraped fresh each interval). */
function hasEventTargets(config: LoadConfig): boolean {
  const t = config.targets;
  return t.p99Ms !== null || t.p50Ms !== null || t.errorRate !== null;
}

/** The default watcher's window: max(1 s, interval). */
function decisionWindowMs(config: LoadConfig | null): number {
  return Math.max(1_000, config?.intervalMs ?? 1_000);
}

function isRestricted(p: PublishedLoad): boolean {
  return p.multiplier < 1 || Object.values(p.tiers).some((m) => m < 1);
}

function moved(a: number, b: number): boolean {
  return Math.abs(a - b) >= EPSILON || ((a === 1) !== (b === 1));
}

function tiersMoved(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  // own keys only: a tier may be called `constructor` or `toString`
  for (const k of keys) if (moved((Object.hasOwn(a, k) ? a[k] : undefined) ?? 1, (Object.hasOwn(b, k) ? b[k] : undefined) ?? 1)) return true;
  return false;
}

function fmt(m: number): string {
  return String(Math.round(m * 100) / 100);
}

function tierText(tiers: Readonly<Record<string, number>>, m: number): string {
  const parts = Object.entries(tiers).filter(([, t]) => Math.abs(t - m) >= EPSILON || t < 1);
  if (parts.length === 0 || parts.every(([, t]) => t === 1)) return '';
  return ' — ' + parts.map(([tier, t]) => `${tier} ×${fmt(t)}`).join(', ');
}

function clip(text: string): string {
  return text.length <= REASON_MAX ? text : text.slice(0, REASON_MAX - 1) + '…';
}
