/**
 * The analyzer's core, without I/O of its own: `ingest(events)` only adds to per-client window
 * counters; `tick(now)` closes the windows event time has passed (bounded lateness), scores them in
 * batches (statistical + learned + rules + series → fusion), learns the clean ones, decides, and
 * applies the outcome through the control plane and the report store it was given. With an injected
 * clock and memory stores it is deterministic, so scripts and benchmarks can drive it directly:
 *
 *   const a = new Analyzer({ policy, controlPlane, reports, clock: () => t });
 *   a.ingest(events); await a.tick(t);
 *
 * Windows: tumbling 10 s per client, closed once the partition's watermark (latest event time −
 * latenessMs, or the clock when the partition is idle) passes their end; each closed 10 s window is
 * rolled into the client's 60 s window, which closes with the last 10 s window of its minute.
 */
import { LRUCache } from 'lru-cache';
import type { AnomalyAction, AnomalyReport, HistoryEntry } from '../models/anomaly.js';
import type { ControlPlane } from '../models/controlPlane.js';
import type { CallEvent } from '../models/events.js';
import { F, FEATURE_COUNT, FEATURE_NAMES, WindowAccumulator, vectorToDetectorScale, windowStart } from '../models/features.js';
import { fmix32, hashString } from '../models/featureSketches.js';
import type { AutoencoderScore, AutoencoderScorer } from '../models/ml/autoencoder.js';
import { mulberry32 } from '../models/ml/prng.js';
import type { Policy } from '../models/policy/index.js';
import { actionableClient, actionField, Actuator, describeLifted, type ActiveAction } from './actions/actuator.js';
import { expectationBuffers, expectationFor, type Expectation } from './baselines/expectation.js';
import { PopulationBaselines } from './baselines/population.js';
import { HourOfWeekProfile } from './baselines/seasonal.js';
import { ClientState, RecentWindows } from './clientState.js';
import { actionEnded, approved, decide, INITIAL_DECISION_STATE, STRENGTH, type DecisionConfig, type DecisionState, type ProposedAction } from './decisions/decide.js';
import { describeEventTimeFault, eventTimeFault, MAX_CLOCK_SKEW_MS } from './ingest/eventTime.js';
import { compromisedKey, evaluateRules, keySharing, keySharingBurst, volumetric, type RuleHit } from './detectors/rules.js';
import { KeyIdentities } from './recentIps.js';
import { ROBUST_Z_SERIES, type SeriesFactory, type SeriesScorer } from './detectors/seriesScorer.js';
import { scoreStatistical, type StatisticalResult } from './detectors/statistical.js';
import { fuse, type FusionResult } from './fusion.js';
import { AnalyzerMetrics } from './metrics.js';
import { detectionOptions, type DetectionOptions } from './options.js';
import type { ReportPublisher } from './reports/publisher.js';
import type { ReportStore, TransitionResult } from './reports/store.js';
import { sidecarPartOrder } from './clientKeyOrder.js';
import { ClientRestorer, type PendingClient, type LookupOutcome, type RestorerLimits } from './state/restorer.js';
import { decodeClientState, decodePopulationRing } from './state/snapshotCodec.js';
import type { ClientStateStore, GroupState } from './state/stateStore.js';

const W10 = 10_000;
const W60 = 60_000;
/** Services with a service-wide series, and 10 s windows waiting to be added to them, at most. */
const MAX_SERVICES = 1_000;
/** A service without a window for this long gives its place in the series to a new one at the cap (its `recent` span). */
const SERVICE_IDLE_MS = 360 * W10;

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface AnalyzerOptions {
  readonly policy: Policy;
  readonly controlPlane: ControlPlane;
  readonly reports: ReportStore;
  readonly publisher?: ReportPublisher;
  /** Epoch ms; default Date.now. */
  readonly clock?: () => number;
  readonly detection?: Partial<DetectionOptions>;
  /** The learned detector; null/absent: not used. */
  readonly autoencoder?: AutoencoderScorer | null;
  /** The streaming series detector (loadSeriesFactory()); default the robust-z stand-in. */
  readonly series?: SeriesFactory;
  readonly metrics?: AnalyzerMetrics;
  readonly log?: LogFn;
  /** Name in report history (`analyzer@<instance>`, cut to 128 characters). */
  readonly instance?: string;
  /** Clean 10 s vectors kept for retraining (reservoir sample). */
  readonly reservoirSize?: number;
  /**
   * Where client snapshots are looked up when a client is not held (analyzer/state/). Absent or
   * null: every client starts fresh, as without snapshots.
   */
  readonly state?: ClientStateStore | null;
  readonly restoreLimits?: Partial<RestorerLimits>;
}

/** Clients handed to the snapshot writer after they left the LRU (evicted, revoked), at most. */
const MAX_HANDOFF = 50_000;

interface PartitionClock {
  maxTs: number;
  lastArrival: number;
  /** Every window ending at or before this has been closed. */
  closedUntil: number;
  /** … and scored, with the decisions' effects done (offsets of their events may be committed). */
  scoredUntil: number;
  /**
   * Start of the 10 s window of the first event read on this partition (+∞ before it). Reading
   * starts at the held-back commit, so a minute begun before it was read here only in part (its
   * earlier windows were scored by the previous owner, or came before this start): it closes as
   * partial — not scored, not learned — as it did on the previous owner.
   */
  readFrom: number;
  readonly b10: Map<number, ClientState[]>;
  readonly b60: Map<number, ClientState[]>;
}

interface Closed {
  readonly st: ClientState;
  readonly acc: WindowAccumulator;
  readonly sizeMs: number;
  readonly partial: boolean;
  /** An early look at the open minute `acc`: its features up to `end`, taken when that 10 s window closed. */
  readonly early?: { readonly end: number; readonly x: Float64Array };
}

/** The span a report names: a closed window, or the open minute up to an early look. */
interface WindowSpan {
  readonly start: number;
  readonly end: number;
  readonly service: string;
}

/** Requests in the open minute below which an early look cannot move a ratio far enough to matter. */
const EARLY_LOOK_MIN_REQUESTS = 3;

/** The open-window look reads a count only: no statistical evidence. */
const NO_STATISTICAL: StatisticalResult = { score: 0, zEff: 0, top: [] };

/** What one window's scoring produced (returned by tick for scripts and tests). */
export interface ScoredWindow {
  readonly client: string;
  readonly tier: string;
  readonly sizeMs: number;
  readonly start: number;
  readonly end: number;
  readonly features: Float64Array;
  readonly fusion: FusionResult;
}

export interface TickResult {
  readonly closed: number;
  readonly scored: ScoredWindow[];
  /** Reports created during this tick. */
  readonly opened: AnomalyReport[];
}

export interface ServiceSeriesView {
  readonly service: string;
  readonly points: ReadonlyArray<{ end: number; requests: number; score: number }>;
}

export interface ClientView {
  readonly client: string;
  readonly tier: string;
  readonly service: string;
  readonly windows: { readonly '10s': number; readonly '60s': number };
  /** Heap bytes the client holds (ClientState.heapBytes: elements and V8's overhead around them). */
  readonly stateBytes: number;
  readonly lastScore: number;
  readonly decision: DecisionState;
  readonly baseline: Record<'10s' | '60s', Array<{ feature: string; centre: number; spread: number; source: string }>>;
  readonly recent: Record<'10s' | '60s', ReturnType<RecentWindows['list']>>;
  readonly seasonal: boolean;
}

type Effect = () => Promise<void>;

export class Analyzer {
  readonly options: DetectionOptions;
  readonly metrics: AnalyzerMetrics;
  readonly actuator: Actuator;
  readonly population = new PopulationBaselines();
  private policy: Policy;
  private allowlist: Set<string>;
  private readonly clients: LRUCache<string, ClientState>;
  private readonly partitions = new Map<number, PartitionClock>();
  private readonly clock: () => number;
  private readonly log: LogFn;
  private readonly seriesFactory: SeriesFactory;
  private autoencoder: AutoencoderScorer | null;
  private readonly who: string;
  /** Requests per service per 10 s window end, finalised once every partition has passed the end. */
  private readonly serviceWindows = new Map<number, Map<string, number>>();
  private readonly serviceSeries = new Map<string, { scorer: SeriesScorer; recent: Array<{ end: number; requests: number; score: number }>; decision: DecisionState }>();
  private readonly reservoir: Float64Array[] = [];
  private reservoirSeen = 0;
  private readonly reservoirRng = mulberry32(0x5eed);
  private readonly reservoirSize: number;
  /** Event time of the first event this instance saw (start of the warm-up). */
  private firstEventTs = Number.POSITIVE_INFINITY;
  private lastTrim = 0;
  private lastGauges = 0;
  private ticking: Promise<TickResult> | null = null;
  /** Lifting actions on clients a reloaded policy allowlists (setPolicy), one reload after another. */
  private lifting: Promise<void> = Promise.resolve();
  private readonly scratch = expectationBuffers();
  private readonly restorer: ClientRestorer | null;
  /** Clients whose decision state changed: their snapshot is written within a second. */
  private readonly urgent = new Set<ClientState>();
  /** Clients whose open 10 s window reached rules10s.minRequests: looked at on every tick (openWindowLook). */
  private readonly surging = new Set<ClientState>();
  /** Requests at which an open 10 s window joins `surging` (−1: the look is off). */
  private readonly surgeAt: number;
  /** Credentials that met a new address or a stranger since the last tick: their identity rules are looked at (openWindowLook). */
  private readonly newcomers = new Set<ClientState>();
  /** Clients whose early look came close (earlyWatchScore): their open minute is looked at on every tick that brought events. */
  private readonly watching = new Set<ClientState>();
  /** Clients that left the LRU with unwritten changes (evicted, revoked), for the snapshot writer; one (the latest) per key. */
  private handoff = new Map<string, ClientState>();
  /**
   * Handed-off clients the snapshot writer took and has not finished writing: until it has, the
   * store may still hold the older snapshot, so a client coming back is taken from here too.
   */
  private writing = new Map<string, ClientState>();
  /** The consumer group's warm-up mark restored from the state store, if any. */
  private groupWarmSince: number | null = null;

  constructor(private readonly deps: AnalyzerOptions) {
    this.options = detectionOptions(deps.detection);
    this.surgeAt = this.options.openWindowLook ? Math.max(1, this.options.rules10s.minRequests) : -1;
    this.metrics = deps.metrics ?? new AnalyzerMetrics();
    this.policy = deps.policy;
    this.allowlist = new Set(deps.policy.analyzer.allowlist.map(sidecarPartOrder));
    this.clock = deps.clock ?? Date.now;
    this.log = deps.log ?? (() => undefined);
    this.seriesFactory = deps.series ?? ROBUST_Z_SERIES;
    this.autoencoder = deps.autoencoder ?? null;
    // a history entry's `who` holds 128 characters (the codec's bound): a longer pod name is cut
    this.who = `analyzer@${deps.instance ?? 'local'}`.slice(0, 128);
    this.actuator = new Actuator(deps.controlPlane);
    this.reservoirSize = deps.reservoirSize ?? 20_000;
    this.clients = new LRUCache<string, ClientState>({
      max: deps.policy.analyzer.maxClients,
      dispose: (st, _key, reason) => {
        if (reason === 'evict') {
          st.evicted = true;
          this.metrics.clientsEvicted.inc();
          // its learning since the last snapshot is written, so its next visit restores it
          if (this.restorer && st.dirty) this.handOff(st);
        }
      },
    });
    this.restorer = deps.state
      ? new ClientRestorer(
          deps.state,
          {
            deliver: (p, bytes, outcome) => this.restored(p, bytes, outcome),
            skipped: () => this.metrics.stateRestores.inc({ result: 'skipped' }),
            lookupSeconds: (s) => this.metrics.stateLookupSeconds.observe(s),
            warn: (msg, fields) => this.log('warn', msg, fields),
          },
          this.clock,
          deps.restoreLimits,
        )
      : null;
    if (this.autoencoder) this.metrics.modelInfo.set({ version: this.autoencoder.metadata.version, backend: this.autoencoder.backend }, 1);
  }

  // ---------------------------------------------------------------- ingest (hot path)

  /**
   * Adds events to their clients' open windows. Numbers only: no scoring, no I/O, no await. With a
   * state store, the events of a client not held are buffered while its snapshot is looked up
   * (analyzer/state/restorer.ts) and replayed when it arrives.
   */
  ingest(events: readonly CallEvent[], partition = 0): void {
    if (events.length === 0) return;
    const pc = this.partitionClock(partition);
    const now = this.clock();
    pc.lastArrival = now;
    // event times out of bounds (eventTime.ts) would move the watermark and the warm-up mark for good
    const latest = now + MAX_CLOCK_SKEW_MS;
    let skipped = 0;
    const clients = this.clients;
    const restorer = this.restorer;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const ts = e.ts;
      if (!(ts <= latest && ts > 0)) {
        if (skipped++ === 0) this.log('debug', 'bad event skipped', { client: e.client, error: describeEventTimeFault(eventTimeFault(ts, now) ?? 'unset', ts, now) });
        continue;
      }
      // the warm-up starts at the first event believed (the mark is persisted for the group)
      if (this.firstEventTs === Number.POSITIVE_INFINITY) this.firstEventTs = ts;
      if (pc.readFrom === Number.POSITIVE_INFINITY) pc.readFrom = ts - (ts % W10);
      let st = clients.get(e.client);
      if (st === undefined && restorer !== null && (this.handoff.size > 0 || this.writing.size > 0)) st = this.takeBack(e.client);
      if (st === undefined) {
        if (restorer !== null) {
          if (restorer.hold(e, partition)) {
            if (e.ts > pc.maxTs) pc.maxTs = e.ts;
            continue;
          }
          // not held (a bound): admit it now, with whatever it had buffered first
          const buffered = restorer.abandon(e.client);
          st = this.admit(e, partition);
          if (buffered) for (const b of buffered) this.add(st, b, pc, partition);
        } else st = this.admit(e, partition);
      }
      this.add(st, e, pc, partition);
    }
    if (skipped > 0) this.metrics.eventsBad.inc(skipped);
    if (skipped < events.length) this.metrics.eventsConsumed.inc(events.length - skipped);
  }

  private add(st: ClientState, e: CallEvent, pc: PartitionClock, partition: number): void {
    if (st.partition !== partition) this.moved(st, partition);
    const ts = e.ts;
    if (ts > pc.maxTs) pc.maxTs = ts;
    const cur = st.current;
    const start = ts - (ts % W10);
    const acc = cur !== null && cur.start === start ? cur : this.windowFor(st, pc, start);
    if (ts <= st.replayUntil) {
      // re-read after a restore: the snapshot holds this event's effect on the context and identities
      acc.addReplayed(e);
      if (acc.count === this.surgeAt) this.surging.add(st);
      if (e.tier !== undefined && e.tier !== st.tier) st.tier = e.tier;
      return;
    }
    acc.add(e, st.ctx);
    if (acc.count === this.surgeAt) this.surging.add(st);
    if (st.credential) {
      const minute = Math.floor(ts / 60_000);
      const moved = (st.ids ??= new KeyIdentities(minute)).observe(hashString(e.ip), e.uaHash === null ? 0 : hashString(e.uaHash) || 1, minute);
      if (moved && this.surgeAt > 0) this.newcomers.add(st);
    }
    if (e.tier !== undefined && e.tier !== st.tier) st.tier = e.tier;
  }

  /**
   * A client that left the LRU and still waits for the snapshot writer comes back as it is: the
   * store holds only its older snapshot (or none) until that write. Undefined when it is not waiting.
   */
  private takeBack(key: string): ClientState | undefined {
    let st = this.handoff.get(key);
    if (st !== undefined) this.handoff.delete(key);
    else {
      // its write is in flight: the store may not hold it yet
      st = this.writing.get(key);
      if (st === undefined) return undefined;
      this.writing.delete(key);
      // whatever of it the writer has not encoded yet is written with the next flush
      st.dirty = true;
    }
    st.evicted = false;
    this.clients.set(key, st);
    this.metrics.stateRestores.inc({ result: 'restored' });
    return st;
  }

  private admit(e: CallEvent, partition: number): ClientState {
    const st = new ClientState(e.client, e.tier ?? this.tierOf(e.client), partition, this.options);
    this.clients.set(e.client, st);
    return st;
  }

  /** A snapshot lookup finished: the client from its snapshot (or fresh), then its held events. */
  private restored(p: PendingClient, bytes: Uint8Array | null, outcome: LookupOutcome): void {
    const first = p.events[0]!;
    let st = this.clients.get(p.client);
    if (st === undefined) {
      let result: 'restored' | 'absent' | 'bad' | 'error' = outcome === 'found' ? 'restored' : outcome;
      if (bytes !== null) {
        const decoded = decodeClientState(bytes, p.client, p.partition, this.options, this.seriesFactory, first.tier ?? this.tierOf(p.client));
        if (decoded.ok) {
          st = decoded.value.state;
          // an action that ran out while nobody held the client has ended (its field was expired by whoever ran then)
          const ep = st.decision.episode;
          if (ep && ep.until !== null && ep.until <= this.clock()) st.decision = actionEnded(st.decision);
          // the low-and-slow ring's minutes go on from the snapshot's last event (minutes since then were silent)
          if (st.hasModel && st.ctx.lastTs >= 0) st.lowSlow.lastMinute = Math.floor(st.ctx.lastTs / W60);
          // events up to the snapshot's last one come again (uncommitted offsets): counted, not re-learned
          st.replayUntil = st.ctx.lastTs;
          this.clients.set(p.client, st);
        } else {
          result = 'bad';
          this.log('warn', 'a client snapshot did not decode; the client starts fresh', { client: p.client, err: decoded.error });
        }
      }
      this.metrics.stateRestores.inc({ result });
      st ??= this.admit(first, p.partition);
    }
    const pc = this.partitionClock(p.partition);
    for (const e of p.events) this.add(st, e, pc, p.partition);
  }

  /** The client's events now come from another partition (rare: repartitioning). */
  private moved(st: ClientState, partition: number): void {
    st.partition = partition;
    const pc = this.partitionClock(partition);
    for (const w of st.windows) this.register(pc.b10, w.end, st);
    if (st.roll) this.register(pc.b60, st.roll.end, st);
  }

  private windowFor(st: ClientState, pc: PartitionClock, start: number): WindowAccumulator {
    if (start + W10 <= pc.closedUntil) {
      // late: its window is closed; fold it into the oldest open one so volume is not lost
      this.metrics.eventsLate.inc();
      if (st.windows.length > 0) return st.windows[0]!;
      start = pc.closedUntil;
    }
    for (const w of st.windows) if (w.start === start) return (st.current = w);
    const acc = new WindowAccumulator(start, W10, st.ctx.hasHistory);
    let at = st.windows.length;
    while (at > 0 && st.windows[at - 1]!.start > start) at--;
    st.windows.splice(at, 0, acc);
    st.current = acc;
    this.register(pc.b10, acc.end, st);
    return acc;
  }

  private register(buckets: Map<number, ClientState[]>, end: number, st: ClientState): void {
    const list = buckets.get(end);
    if (list) list.push(st);
    else buckets.set(end, [st]);
  }

  private partitionClock(partition: number): PartitionClock {
    let pc = this.partitions.get(partition);
    if (!pc) {
      pc = { maxTs: Number.NEGATIVE_INFINITY, lastArrival: this.clock(), closedUntil: Number.NEGATIVE_INFINITY, scoredUntil: Number.NEGATIVE_INFINITY, readFrom: Number.POSITIVE_INFINITY, b10: new Map(), b60: new Map() };
      this.partitions.set(partition, pc);
    }
    return pc;
  }

  private tierOf(client: string): string {
    const clients = this.policy.clients;
    const direct = clients[client];
    if (direct) return direct.tier;
    if (client.includes('|')) for (const part of client.split('|')) if (clients[part]) return clients[part]!.tier;
    return this.policy.defaultTier;
  }

  private isAllowlisted(client: string): boolean {
    if (this.allowlist.size === 0) return false;
    if (this.allowlist.has(client)) return true;
    if (!client.includes('|')) return false;
    // a hybrid key names a set of identities: `ip:…|apiKey:…` is the client `apiKey:…|ip:…` (entries are kept in the sidecars' order)
    return this.allowlist.has(sidecarPartOrder(client)) || client.split('|').some((part) => this.allowlist.has(part));
  }

  // ---------------------------------------------------------------- closing and scoring (off the ingest path)

  private watermark(pc: PartitionClock, now: number): number {
    if (pc.maxTs === Number.NEGATIVE_INFINITY) return Number.NEGATIVE_INFINITY;
    const idle = now - pc.lastArrival;
    return pc.maxTs + (idle >= this.options.idleMs ? idle : 0) - this.options.latenessMs;
  }

  /**
   * Closes, scores and acts on every window event time has passed. Serialised: a tick that starts
   * while one runs waits for it.
   */
  async tick(now: number = this.clock()): Promise<TickResult> {
    while (this.ticking) await this.ticking.catch(() => undefined);
    const run = this.runTick(now);
    this.ticking = run;
    try {
      return await run;
    } finally {
      this.ticking = null;
    }
  }

  private async runTick(now: number): Promise<TickResult> {
    // held events first go into their windows (bounded wait: the restorer's timeout)
    if (this.restorer) await this.restorer.settled();
    const closed: Closed[] = [];
    const marks: Array<[PartitionClock, number]> = [];
    let minWatermark = Number.POSITIVE_INFINITY;
    for (const pc of this.partitions.values()) {
      const wm = this.watermark(pc, now);
      if (wm < minWatermark) minWatermark = wm;
      this.collect(pc, wm, closed, false);
      marks.push([pc, pc.closedUntil]);
    }
    if (this.partitions.size > 0 && Number.isFinite(minWatermark)) this.metrics.watermarkLag.set(Math.max(0, (now - minWatermark) / 1000));
    const result = await this.process(closed, now);
    if (this.surging.size > 0) await this.lookAtSurges(now, result);
    if (this.newcomers.size > 0) await this.lookAtNewcomers(now, result);
    if (this.watching.size > 0) await this.watchMinutes(now, result);
    for (const [pc, until] of marks) if (until > pc.scoredUntil) pc.scoredUntil = until;
    this.finishServiceWindows(minWatermark, now, result);
    await this.housekeeping(now);
    return result;
  }

  /** Moves windows ending by `wm` out of the buckets, 10 s before 60 s at equal ends, in time order. */
  private collect(pc: PartitionClock, wm: number, out: Closed[], partial: boolean): void {
    // one end at a time, the earliest first, looked up again after each: closing a 10 s window
    // registers its minute's 60 s window (close10), which may end by `wm` too (finish() passes
    // wm = +∞, a catching-up partition passes whole minutes) and must close in this pass, in order
    for (;;) {
      let end = Number.POSITIVE_INFINITY;
      for (const e of pc.b10.keys()) if (e < end) end = e;
      for (const e of pc.b60.keys()) if (e < end) end = e;
      if (end === Number.POSITIVE_INFINITY || !(end <= wm)) return; // none left (finish: wm = +∞), or none due
      const list10 = pc.b10.get(end);
      if (list10) {
        pc.b10.delete(end);
        for (const st of list10) this.close10(st, end, pc, out, partial);
      }
      const list60 = pc.b60.get(end);
      if (list60) {
        pc.b60.delete(end);
        for (const st of list60) {
          if (st.evicted || st.roll === null || st.roll.end !== end) continue;
          // a minute begun before the partition's first event read here was read only in part
          out.push({ st, acc: st.roll, sizeMs: W60, partial: partial || st.roll.start < pc.readFrom });
          st.roll = null;
        }
      }
      if (end > pc.closedUntil && !partial) pc.closedUntil = end;
    }
  }

  private close10(st: ClientState, end: number, pc: PartitionClock, out: Closed[], partial: boolean): void {
    if (st.evicted) return;
    const i = st.windows.findIndex((w) => w.end === end);
    if (i < 0) return;
    const acc = st.windows[i]!;
    st.windows.splice(i, 1);
    if (st.current === acc) st.current = st.windows.at(-1) ?? null;
    st.ctx.windowsSeen++;
    out.push({ st, acc, sizeMs: W10, partial });
    if (partial) return;
    const start60 = windowStart(acc.start, W60);
    if (st.roll !== null && st.roll.start !== start60) {
      // a minute whose 60 s bucket was not reached (cannot happen in order; kept safe)
      out.push({ st, acc: st.roll, sizeMs: W60, partial: st.roll.start < pc.readFrom });
      st.roll = null;
    }
    if (st.roll === null) {
      st.roll = new WindowAccumulator(start60, W60, acc.routeHistory);
      this.register(pc.b60, st.roll.end, st);
    }
    st.roll.merge(acc);
    const early = this.options.earlyLookMs;
    if (early > 0 && end < st.roll.end && end - st.roll.start >= early && st.roll.count >= EARLY_LOOK_MIN_REQUESTS) {
      out.push({ st, acc: st.roll, sizeMs: W60, partial: false, early: { end, x: st.roll.vector() } });
    }
    const services = this.serviceWindows.get(end) ?? new Map<string, number>();
    if (services.size === 0) this.serviceWindows.set(end, services);
    if (acc.service) {
      const held = services.get(acc.service);
      if (held !== undefined || services.size < MAX_SERVICES) services.set(acc.service, (held ?? 0) + acc.count);
      else this.metrics.serviceRequestsDropped.inc({ reason: 'service_cap' }, acc.count);
    }
  }

  private async process(closed: Closed[], now: number): Promise<TickResult> {
    const result: TickResult = { closed: closed.length, scored: [], opened: [] };
    if (closed.length === 0) return result;
    const slice = this.options.scoreSlice;
    for (let from = 0; from < closed.length; from += slice) {
      const part = closed.slice(from, from + slice);
      const effects: Effect[] = [];
      const stop = this.metrics.scoreSeconds.startTimer();
      this.scoreSlice(part, now, result, effects);
      stop();
      await this.apply(effects);
      // let ingest run between slices
      if (from + slice < closed.length) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return result;
  }

  private scoreSlice(part: readonly Closed[], now: number, result: TickResult, effects: Effect[]): void {
    const o = this.options;
    const vectors = part.map((c) => c.early?.x ?? c.acc.vector());
    // the learned detector scores the slice's 10 s windows in one batch
    let aeScores: Array<AutoencoderScore | null> = part.map(() => null);
    if (this.autoencoder) {
      const idx: number[] = [];
      part.forEach((c, i) => {
        if (c.sizeMs === W10 && !c.partial) idx.push(i);
      });
      if (idx.length > 0) {
        try {
          const scores = this.autoencoder.scoreBatch(idx.map((i) => vectors[i]!));
          aeScores = part.map(() => null);
          idx.forEach((i, k) => (aeScores[i] = scores[k]!));
        } catch (err) {
          this.log('warn', 'autoencoder scoring failed; continuing without it', { err: (err as Error).message });
        }
      }
    }
    for (let i = 0; i < part.length; i++) {
      const { st, acc, sizeMs, partial, early } = part[i]!;
      const x = vectors[i]!;
      if (early) {
        // the minute is not closed: counted as a look, not as a closed window
        this.scoreEarly(st, acc, early.end, x, now, result, effects);
        continue;
      }
      this.metrics.windowsClosed.inc({ window: sizeMs === W10 ? '10s' : '60s' });
      if (partial) {
        this.metrics.windowsPartial.inc();
        continue;
      }
      const xs = vectorToDetectorScale(x);
      const is10 = sizeMs === W10;
      const baseline = is10 ? st.b10 : st.b60;
      const pop = this.population.ring(st.tier, sizeMs);
      const exp = expectationFor(baseline, pop, st.seasonal, sizeMs, acc.end, is10 ? o.minHistory10s : o.minHistory60s, this.scratch);
      const statistical = scoreStatistical(x, xs, exp, sizeMs, o.z0, o.zScale);
      const rules = evaluateRules(x, exp, is10 ? o.rules10s : o.rules60s, sizeMs, o.youngVolumeFactor);
      if (!is10) {
        const slow = st.lowSlow.update(x, o.lowAndSlow, Math.floor(acc.start / W60));
        if (slow) rules.push(slow);
      }
      const recentIps = st.ids ? this.identityRules(st, st.ids, Math.floor((acc.end - 1) / 60_000), rules) : -1;
      let series: number | null = null;
      if (is10) {
        st.series ??= this.seriesFactory.create('light');
        series = st.series.update(x[F.requests]!, acc.end);
      }
      const fusion = fuse({ sizeMs, tier: st.tier, requests: x[F.requests]!, statistical, rules, series, autoencoder: aeScores[i] ?? null, expectation: exp }, o.weights);
      // learn what did not look anomalous, so an attack does not become the baseline (during the
      // warm-up everything: a big client must not stay anomalous for lack of its own history)
      const warm = acc.end < this.firstEventTs + o.warmupMs;
      st.dirty = true;
      if (warm || fusion.score < o.openThreshold) baseline.learn(xs);
      if (fusion.score < o.closeThreshold) {
        this.population.learn(st.tier, sizeMs, xs);
        if (is10) this.sample(x);
      }
      if (!is10) {
        st.minutes++;
        // the usual ten-minute IP count, learned from clean minutes once a horizon of history exists
        if (recentIps >= 0 && fusion.score < o.closeThreshold && st.minutes >= o.keySharing.horizonMinutes) {
          st.usualIpsN++;
          st.usualIps += (recentIps - st.usualIps) / Math.min(st.usualIpsN, 50);
        }
        if (st.seasonal === null && st.minutes >= o.seasonalAfterMinutes) st.seasonal = new HourOfWeekProfile(0.05, o.seasonalMinSamples);
        if (st.seasonal && fusion.score < o.closeThreshold) st.seasonal.update(acc.end, xs[F.requests]!);
      }
      const requestsCentre = exp.raw[F.requests]!;
      const requestsSpread = Number.isNaN(requestsCentre) ? NaN : Math.max(0, Math.expm1(exp.centre[F.requests]! + Math.sqrt(exp.sigma[F.requests]! ** 2 + 1 / (1 + Math.max(0, requestsCentre)))) - requestsCentre);
      (is10 ? st.recent10 : st.recent60).push(acc.end, fusion.score, x, requestsCentre, requestsSpread);
      st.lastScore = fusion.score;
      st.service = acc.service || st.service;
      result.scored.push({ client: st.key, tier: st.tier, sizeMs, start: acc.start, end: acc.end, features: x, fusion });
      if (!warm) this.decideFor(st, acc, sizeMs, fusion, now, result, effects);
    }
  }

  /**
   * The open minute so far, scored as a 60 s window against the same expectation (earlyLookMs):
   * it may open or raise a report, and learns nothing — the minute is learned once, when it
   * closes. Averages over a shorter span (latency, timing regularity) are noisier than the
   * minute's baseline allows for and are left out; counts can only be lower than the minute's and
   * ratios carry their sampling noise (statistical.ts), so neither is inflated by the short span.
   */
  private scoreEarly(st: ClientState, roll: WindowAccumulator, end: number, x: Float64Array, now: number, result: TickResult, effects: Effect[]): void {
    const fusion = this.lookEarly(st, roll, x);
    if (fusion === null) return;
    if (fusion.score >= this.options.openThreshold) {
      this.decideFor(st, { start: roll.start, end, service: roll.service }, W60, fusion, now, result, effects);
    } else if (this.options.earlyWatchScore > 0 && fusion.score >= this.options.earlyWatchScore) {
      st.watchMinute = roll.end;
      st.watchCount = roll.count;
      this.watching.add(st);
    }
  }

  /** An early look's fused score for the minute so far in `x` (null during the warm-up). */
  private lookEarly(st: ClientState, roll: WindowAccumulator, x: Float64Array): FusionResult | null {
    const o = this.options;
    if (roll.end < this.firstEventTs + o.warmupMs) return null;
    x[F.latencyMs] = NaN;
    x[F.interarrivalCv] = NaN;
    const exp = expectationFor(st.b60, this.population.ring(st.tier, W60), st.seasonal, W60, roll.end, o.minHistory60s, this.scratch);
    const statistical = scoreStatistical(x, vectorToDetectorScale(x), exp, W60, o.z0, o.zScale);
    const rules = evaluateRules(x, exp, o.rules60s, W60, o.youngVolumeFactor);
    this.metrics.earlyLooks.inc();
    return fuse({ sizeMs: W60, tier: st.tier, requests: x[F.requests]!, statistical, rules, series: null, autoencoder: null, expectation: exp }, o.weights);
  }

  /**
   * The early-look watch (earlyWatchScore): a watched client's minute so far, its closed 10 s
   * windows plus those still open, is looked at again on every tick that brought it events, the
   * same way as the early look. More calls only add evidence the closed windows will hold too, and
   * ratios carry their sampling noise; the look acts at most once per minute (later ones escalate
   * through the usual windows) and learns nothing. The watch ends when the minute closes.
   */
  private async watchMinutes(now: number, result: TickResult): Promise<void> {
    const effects: Effect[] = [];
    for (const st of this.watching) {
      const roll = st.roll;
      if (st.evicted || roll === null || roll.end !== st.watchMinute) {
        this.watching.delete(st);
        continue;
      }
      let count = roll.count;
      let end = roll.start;
      for (const acc of st.windows) {
        if (acc.start < roll.start || acc.end > roll.end || acc.count === 0) continue;
        count += acc.count;
        if (acc.end > end) end = acc.end;
      }
      if (count === st.watchCount) continue;
      st.watchCount = count;
      const sofar = new WindowAccumulator(roll.start, W60, roll.routeHistory);
      sofar.merge(roll);
      for (const acc of st.windows) if (acc.start >= roll.start && acc.end <= roll.end) sofar.merge(acc);
      const fusion = this.lookEarly(st, roll, sofar.vector());
      if (fusion === null || fusion.score < this.options.openThreshold) continue;
      this.watching.delete(st);
      this.decideFor(st, { start: roll.start, end: upToLatest(st, roll.start, end), service: sofar.service }, W60, fusion, now, result, effects);
    }
    await this.apply(effects);
  }

  /**
   * The open-window look (openWindowLook): a client whose open 10 s window already holds
   * rules10s.minRequests is checked for a volumetric burst on every tick, against the expectation
   * its closed window will meet, instead of waiting for the window to end and the lateness to pass.
   * A count only grows, so this never reports what the closed window would not; it reports up to
   * ~12 s sooner. At most one look per window acts (the closed window escalates as usual); a look
   * learns nothing. Counted in ratewarden_open_window_looks_total.
   */
  private async lookAtSurges(now: number, result: TickResult): Promise<void> {
    const o = this.options;
    const effects: Effect[] = [];
    for (const st of this.surging) {
      let open = false;
      if (!st.evicted) {
        for (const acc of st.windows) {
          if (acc.count < this.surgeAt) continue;
          open = true;
          if (st.lookedAt === acc.end || acc.end < this.firstEventTs + o.warmupMs) continue;
          this.metrics.openWindowLooks.inc();
          const exp = expectationFor(st.b10, this.population.ring(st.tier, W10), st.seasonal, W10, acc.end, o.minHistory10s, this.scratch);
          if (exp.source === 'none') continue;
          const burst = volumetric(acc.count, exp, o.rules10s, W10, o.youngVolumeFactor);
          if (burst) this.actOnOpenWindow(st, acc, exp, [burst], now, result, effects);
        }
      }
      if (!open) this.surging.delete(st);
    }
    await this.apply(effects);
  }

  /**
   * The identity rules of a credential (key sharing, its start, compromised key) as of `minute`,
   * appended to `out`. Returns the distinct IPs of the horizon (learned as the usual count).
   */
  private identityRules(st: ClientState, ids: KeyIdentities, minute: number, out: RuleHit[]): number {
    const o = this.options;
    const recentIps = ids.ips.seenSince(minute - o.keySharing.horizonMinutes + 1);
    let shared = keySharing(recentIps, st.usualIps, o.keySharing);
    if (!shared && st.usualIpsN > 0) {
      // its start: distinct new devices within a couple of minutes, against the minutes before
      const devices = ids.debutsSince(minute, o.keySharing.burstMinutes);
      if (devices > 0) shared = keySharingBurst(devices, ids.debutsSince(minute, o.keySharing.horizonMinutes) - devices, st.usualIps, o.keySharing);
    }
    if (shared) out.push(shared);
    const taken = compromisedKey(ids.strangerRequests(minute), ids.strangerAddresses(minute), o.compromisedKey);
    if (taken) out.push(taken);
    return recentIps;
  }

  /**
   * The open-window look at identities (openWindowLook): a credential that met a new address or a
   * stranger since the last tick has its identity rules read at once, as its closed window will
   * read them, instead of when that window closes plus the lateness. The tables only grow within
   * the minute, so this never reports what the closed window would not; it acts at most once per
   * window (shared with the volumetric look) and learns nothing. Counted in
   * ratewarden_open_window_looks_total.
   */
  private async lookAtNewcomers(now: number, result: TickResult): Promise<void> {
    const o = this.options;
    const effects: Effect[] = [];
    for (const st of this.newcomers) {
      const ids = st.ids;
      const last = st.ctx.lastTs;
      // the window of its latest call, if still open (a closed one was just read by the usual path)
      const acc = st.windows.find((w) => w.start <= last && last < w.end);
      if (st.evicted || ids === null || acc === undefined || st.lookedAt === acc.end || acc.end < this.firstEventTs + o.warmupMs) continue;
      this.metrics.openWindowLooks.inc();
      const rules: RuleHit[] = [];
      this.identityRules(st, ids, Math.floor(last / 60_000), rules);
      if (rules.length === 0) continue;
      const exp = expectationFor(st.b10, this.population.ring(st.tier, W10), st.seasonal, W10, acc.end, o.minHistory10s, this.scratch);
      this.actOnOpenWindow(st, acc, exp, rules, now, result, effects);
    }
    this.newcomers.clear();
    await this.apply(effects);
  }

  /**
   * An open-window look's rule hits on the open window `acc`, fused alone (a look reads no
   * statistics): at the open threshold the look acts, once per window, on a report covering the
   * window up to the client's latest event.
   */
  private actOnOpenWindow(st: ClientState, acc: WindowAccumulator, exp: Expectation, rules: RuleHit[], now: number, result: TickResult, effects: Effect[]): void {
    const fusion = fuse({ sizeMs: W10, tier: st.tier, requests: acc.count, statistical: NO_STATISTICAL, rules, series: null, autoencoder: null, expectation: exp }, this.options.weights);
    if (fusion.score < this.options.openThreshold) return;
    st.lookedAt = acc.end;
    this.decideFor(st, { start: acc.start, end: upToLatest(st, acc.start, acc.end), service: acc.service }, W10, fusion, now, result, effects);
  }

  /** Runs decisions' effects in order; a failed one is logged and does not stop the others. */
  private async apply(effects: readonly Effect[]): Promise<void> {
    for (const effect of effects) {
      try {
        await effect();
      } catch (err) {
        this.log('error', 'applying a decision failed', { err: (err as Error).message });
      }
    }
  }

  private sample(x: Float64Array): void {
    this.reservoirSeen++;
    if (this.reservoir.length < this.reservoirSize) this.reservoir.push(x);
    else {
      const j = Math.floor(this.reservoirRng() * this.reservoirSeen);
      if (j < this.reservoirSize) this.reservoir[j] = x;
    }
  }

  // ---------------------------------------------------------------- decisions and their effects

  private decisionConfig(): DecisionConfig {
    const o = this.options;
    return { policy: this.policy.analyzer, openThreshold: o.openThreshold, closeThreshold: o.closeThreshold, quietMs: o.quietMs, firedThreshold: o.firedThreshold };
  }

  private decideFor(st: ClientState, acc: WindowSpan, sizeMs: number, fusion: FusionResult, now: number, result: TickResult, effects: Effect[]): void {
    // the id is only needed when this window opens an episode (none is open, or the open one went silent)
    const reportId = fusion.score >= this.options.openThreshold ? reportIdFor(st.key, acc.end, sizeMs) : '';
    const before = st.decision;
    const { state, outcome } = decide(st.decision, { now, score: fusion.score, detectors: fusion.detectors, sizeMs, allowlisted: this.isAllowlisted(st.key) || !actionableClient(st.key), reportId }, this.decisionConfig());
    if (state !== st.decision) this.changed(st);
    st.decision = state;
    switch (outcome.kind) {
      case 'none':
        return;
      case 'open': {
        const report = this.buildReport(reportId, st.key, st.tier, acc.service || st.service, acc, sizeMs, fusion, now, outcome.action);
        result.opened.push(report);
        this.metrics.anomalies.inc({ detector: fusion.dominant, action: outcome.action.pending ? 'pending' : outcome.action.kind });
        const closes = outcome.closes;
        if (closes !== undefined) effects.push(() => this.closeReport(closes, now));
        effects.push(() => this.openReport(st, report, outcome.action, now, before.lastAction));
        return;
      }
      case 'escalate':
        effects.push(() => this.escalate(st, outcome.reportId, outcome.action, fusion, now, before.lastAction));
        return;
      case 'update':
        effects.push(async () => {
          const updated = await this.deps.reports.updateDetails(outcome.reportId, { score: fusion.score, detectors: fusion.detectors, explanation: fusion.explanation, summary: fusion.summary });
          if (updated) this.deps.publisher?.publish(updated);
        });
        return;
      case 'close':
        effects.push(() => this.closeReport(outcome.reportId, now));
        return;
    }
  }

  private async closeReport(reportId: string, now: number): Promise<void> {
    const r = await this.deps.reports.transition(reportId, { entry: { ts: now, who: this.who, what: 'quiet', note: `no window scored ${this.options.closeThreshold} or more for ${Math.round(this.options.quietMs / 1000)} s` } });
    if (r.ok) this.deps.publisher?.publish(r.report);
  }

  private buildReport(id: string, client: string, tier: string, service: string, acc: WindowSpan, sizeMs: number, fusion: FusionResult, now: number, action: ProposedAction): AnomalyReport {
    const history: HistoryEntry[] = [{ ts: now, who: this.who, what: 'detected', note: `score ${fusion.score} (${fusion.dominant})` }];
    if (action.heldBack) history.push({ ts: now, who: this.who, what: 'held_back', note: `policy action ${this.policy.analyzer.actions[action.rule]?.action ?? '?'} not applied: ${action.heldBack}` });
    if (action.pending) history.push({ ts: now, who: this.who, what: 'pending', note: `${action.kind} awaits approval (requireApproval)` });
    return {
      v: 1,
      id,
      ts: now,
      client,
      tier,
      ...(service ? { service } : {}),
      window: { start: acc.start, end: acc.end, sizeMs },
      score: fusion.score,
      detectors: fusion.detectors,
      explanation: fusion.explanation,
      summary: fusion.summary,
      action: anomalyAction(action, action.apply ? now : null),
      status: action.pending ? 'pending' : 'open',
      history,
    };
  }

  /**
   * A new episode's report, then its action: the report is stored first (open, or pending, with the
   * action not yet applied) and the action applied only once it exists, so every block and override
   * carries a report an operator can see and dismiss (as for escalate). A report that cannot be
   * stored applies nothing, publishes nothing and ends the episode, so the next anomalous window
   * opens it again and acts. `lastAction`: the client's before this decision, given back when the
   * action is not applied.
   */
  private async openReport(st: ClientState, report: AnomalyReport, action: ProposedAction, now: number, lastAction: DecisionState['lastAction']): Promise<void> {
    const store = this.deps.reports;
    let seen: AnomalyReport | null = report;
    try {
      // ids are deterministic per client and window: the window may have been reported before (an
      // instance that died after storing it), and then its report as it is now is the one acted on
      if (!(await store.create(report))) seen = await store.get(report.id);
    } catch (err) {
      this.metrics.reportErrors.inc();
      this.log('error', 'storing an anomaly report failed; no action applied, retried on the next anomalous window', { id: report.id, client: st.key, err: (err as Error).message });
      this.episodeEnds(st, report.id, lastAction);
      return;
    }
    if (seen === null) {
      this.reportGone(st, report.id, lastAction);
      return;
    }
    if (seen.status === 'dismissed') {
      this.dismissedElsewhere(st, now);
      return;
    }
    if (!action.apply) {
      if (seen === report) this.deps.publisher?.publish(report);
      return;
    }
    const applied = await this.applyAction(st, action, now, report.id, report.summary, lastAction);
    const entry: HistoryEntry = applied
      ? { ts: now, who: this.who, what: 'actioned', note: describeAction(action, applied.until) }
      : { ts: now, who: this.who, what: 'action_failed', note: 'control plane write failed; retried on the next anomalous window' };
    const next: AnomalyAction = applied ? anomalyAction(action, now, applied.until) : { ...report.action, applied: false };
    try {
      await this.record(st, seen, action, applied, next, entry, now, lastAction);
    } catch (err) {
      // the report does not say the action is in force, so dismissing it would not lift it: take it back
      this.metrics.reportErrors.inc();
      this.log('error', 'recording an action on its new report failed; the action is taken back, retried on the next anomalous window', { id: report.id, client: st.key, err: (err as Error).message });
      if (seen === report) this.deps.publisher?.publish(report);
      if (applied) {
        try {
          await this.actuator.withdraw(applied);
        } catch (e) {
          this.metrics.controlErrors.inc();
          this.log('error', 'taking back an unrecorded action failed; it stays in force until its TTL', { id: report.id, client: st.key, err: (e as Error).message });
        }
        this.notApplied(st, action.kind, now, lastAction);
      }
    }
  }

  /** `lastAction`: the client's before this decision, given back when the action is not applied after all. */
  private async escalate(st: ClientState, reportId: string, action: ProposedAction, fusion: FusionResult, now: number, lastAction: DecisionState['lastAction']): Promise<void> {
    const store = this.deps.reports;
    const current = await store.get(reportId);
    if (current === null) {
      // the episode's report is gone (trimmed by retention, evicted, never stored): an action under it
      // would be one no operator can dismiss, so none is applied; the next anomalous window opens a new episode
      this.reportGone(st, reportId, lastAction);
      return;
    }
    if (current.status === 'dismissed') {
      // an operator dismissed this episode meanwhile (maybe through another instance): respect it
      this.dismissedElsewhere(st, now);
      return;
    }
    // approved through another instance (its decision reached only that one's state): it is in force
    if (this.takeUpApproval(st, current, action, now)) return;
    let entry: HistoryEntry = { ts: now, who: this.who, what: action.pending ? 'pending' : 'escalated', note: `score ${fusion.score}: ${describeAction(action, null)}` };
    let next: AnomalyAction = anomalyAction(action, null);
    let applied: ActiveAction | null = null;
    if (action.apply) {
      applied = await this.applyAction(st, action, now, reportId, fusion.summary, lastAction);
      if (applied) {
        next = anomalyAction(action, now, applied.until);
        entry = { ...entry, what: 'actioned', note: `score ${fusion.score}: ${describeAction(action, applied.until)}` };
      } else {
        entry = { ...entry, what: 'action_failed', note: 'control plane write failed; retried on the next anomalous window' };
        next = { ...next, applied: false };
      }
    }
    await store.updateDetails(reportId, { score: Math.max(fusion.score, current.score), detectors: fusion.detectors, explanation: fusion.explanation, summary: fusion.summary });
    await this.record(st, current, action, applied, next, entry, now, lastAction);
  }

  /**
   * Records on its report (`seen`: as read before acting) what was done for the episode: the action
   * applied (`applied`), failed or pending, and its history entry, and publishes the report.
   * Conditional on the status read, like an operator's decision (analyzerBackend.ts): an operator
   * and the analyzer cannot both win; a few retries when something else changed it meanwhile. A
   * report dismissed or gone meanwhile keeps nothing: the action just written is taken back.
   */
  private async record(st: ClientState, seen: AnomalyReport, action: ProposedAction, applied: ActiveAction | null, next: AnomalyAction, entry: HistoryEntry, now: number, lastAction: DecisionState['lastAction']): Promise<void> {
    const store = this.deps.reports;
    const reportId = seen.id;
    for (let attempt = 0; attempt < 3; attempt++) {
      const to: AnomalyReport['status'] | undefined = action.pending ? 'pending' : applied && seen.status !== 'confirmed' ? 'actioned' : undefined;
      const t = await store.transition(reportId, { ...(to ? { to } : {}), from: [seen.status], action: next, entry });
      if (t.ok) {
        this.deps.publisher?.publish(t.report);
        return;
      }
      if (t.reason === 'not_found' || t.report.status === 'dismissed') {
        if (applied) await this.actuator.withdraw(applied);
        if (t.reason === 'not_found') this.reportGone(st, reportId, lastAction);
        else this.dismissedElsewhere(st, now);
        return;
      }
      seen = t.report;
      // an operator approved it meanwhile: a proposal must not send the report back to pending
      if (this.takeUpApproval(st, seen, action, now)) return;
    }
    this.log('warn', 'an action lost every race for its report; it stays in force unrecorded until its TTL', { id: reportId });
  }

  /**
   * A pending `action` proposed while its report (as read) says an approved action at least as strong
   * is in force: that one becomes the episode's action and nothing is recorded. True when so.
   */
  private takeUpApproval(st: ClientState, report: AnomalyReport, action: ProposedAction, now: number): boolean {
    const inForce = report.action;
    if (!(action.pending && report.status === 'actioned' && inForce.applied && inForce.until !== undefined && inForce.until > now && STRENGTH[inForce.kind] >= STRENGTH[action.kind])) return false;
    st.decision = approved(st.decision, inForce.kind, now, inForce.until, undefined, this.policy.analyzer.cooldownMs);
    this.changed(st);
    return true;
  }

  private reportGone(st: ClientState, reportId: string, lastAction: DecisionState['lastAction']): void {
    this.log('warn', 'the report of an open episode is gone; the episode ends', { client: st.key, id: reportId });
    this.episodeEnds(st, reportId, lastAction);
  }

  /**
   * The episode of `reportId` ends with no action applied under it (its report is gone or could not
   * be stored): the next anomalous window opens a new one, and `lastAction` — the client's before
   * the decision — is given back, so the cool-down does not hold that window's action back.
   */
  private episodeEnds(st: ClientState, reportId: string, lastAction: DecisionState['lastAction']): void {
    if (st.decision.episode?.reportId === reportId) st.decision = { ...st.decision, episode: null, lastAction };
    this.changed(st);
  }

  private dismissedElsewhere(st: ClientState, now: number): void {
    st.decision = { ...actionEnded(st.decision), suppressedUntil: now + this.policy.analyzer.cooldownMs };
    this.changed(st);
  }

  /** `lastAction`: the client's before the decision that proposed `action`, restored when the write fails. */
  private async applyAction(st: ClientState, action: ProposedAction, now: number, anomalyId: string, summary: string, lastAction: DecisionState['lastAction']): Promise<ActiveAction | null> {
    if (action.kind === 'observe') return null;
    try {
      const applied = await this.actuator.apply(st.key, { kind: action.kind, ...(action.multiplier !== undefined ? { multiplier: action.multiplier } : {}), ttlMs: action.ttlMs ?? 600_000 }, now, `anomaly ${anomalyId}: ${summary}`, anomalyId);
      this.metrics.actions.inc({ action: action.kind });
      return applied;
    } catch (err) {
      this.metrics.controlErrors.inc();
      this.log('error', 'control-plane write failed', { client: st.key, action: action.kind, err: (err as Error).message });
      this.notApplied(st, action.kind, now, lastAction);
      return null;
    }
  }

  /**
   * The action of kind `kind` decided at `now` is not in force after all: let the next anomalous
   * window try again — which the cool-down would hold back if it stayed recorded as the last one
   * applied (decide() set it), so the previous one is given back (unless a later decision of this
   * client recorded another since).
   */
  private notApplied(st: ClientState, kind: ProposedAction['kind'], now: number, lastAction: DecisionState['lastAction']): void {
    const recorded = st.decision.lastAction;
    const ended = actionEnded(st.decision);
    st.decision = recorded !== null && recorded.kind === kind && recorded.at === now ? { ...ended, lastAction } : ended;
    this.changed(st);
  }

  // ---------------------------------------------------------------- service series, expiry, retention

  private finishServiceWindows(minWatermark: number, now: number, result: TickResult): void {
    if (this.serviceWindows.size === 0) return;
    const ends = [...this.serviceWindows.keys()].filter((end) => end <= minWatermark).sort((a, b) => a - b);
    const effects: Effect[] = [];
    for (const end of ends) {
      const services = this.serviceWindows.get(end)!;
      this.serviceWindows.delete(end);
      for (const [service, requests] of services) {
        let s = this.serviceSeries.get(service);
        if (s) {
          // least recently updated first (the map's order), for the idle one to give its place
          this.serviceSeries.delete(service);
          this.serviceSeries.set(service, s);
        } else {
          if (this.serviceSeries.size >= MAX_SERVICES) {
            const [idle, oldest] = this.serviceSeries.entries().next().value!;
            if (!((oldest.recent.at(-1)?.end ?? Number.NEGATIVE_INFINITY) <= end - SERVICE_IDLE_MS)) {
              this.metrics.serviceRequestsDropped.inc({ reason: 'service_cap' }, requests);
              continue;
            }
            this.serviceSeries.delete(idle);
          }
          this.serviceSeries.set(service, (s = { scorer: this.seriesFactory.create('full'), recent: [], decision: INITIAL_DECISION_STATE }));
        }
        const score = s.scorer.update(requests, end);
        s.recent.push({ end, requests, score: Math.round(score * 1e4) / 1e4 });
        if (s.recent.length > 360) s.recent.shift();
        const client = `service:${service}`;
        const id = reportIdFor(client, end, W10);
        // service-wide anomalies are reported, never acted on here (the load controller owns services)
        const { state, outcome } = decide(s.decision, { now, score, detectors: { series: score }, sizeMs: W10, allowlisted: true, reportId: id }, { ...this.decisionConfig(), policy: { ...this.policy.analyzer, actions: [] }, openThreshold: this.options.serviceThreshold });
        s.decision = state;
        if (outcome.kind === 'open') {
          const text = `service ${service}: ${requests} requests in 10s, unusual for its request-rate series (score ${score.toFixed(2)})`;
          const report: AnomalyReport = {
            v: 1,
            id,
            ts: now,
            client,
            service,
            window: { start: end - W10, end, sizeMs: W10 },
            score: Math.round(score * 1e4) / 1e4,
            detectors: { series: Math.round(score * 1e4) / 1e4 },
            explanation: [{ feature: 'requests_10s', observed: requests, baseline: 0, spread: 0, z: 0, detector: 'series', text }],
            summary: text,
            action: { kind: 'observe', applied: false },
            status: 'open',
            history: [{ ts: now, who: this.who, what: 'detected', note: 'service-wide request rate' }],
          };
          result.opened.push(report);
          this.metrics.anomalies.inc({ detector: 'series', action: 'observe' });
          effects.push(async () => {
            await this.deps.reports.create(report);
            this.deps.publisher?.publish(report);
          });
        }
      }
    }
    // bounded: ends older than every partition's watermark are gone; a stuck partition is capped here
    while (this.serviceWindows.size > MAX_SERVICES) {
      const end = this.serviceWindows.keys().next().value as number;
      let requests = 0;
      for (const n of this.serviceWindows.get(end)!.values()) requests += n;
      this.serviceWindows.delete(end);
      if (requests > 0) this.metrics.serviceRequestsDropped.inc({ reason: 'backlog' }, requests);
    }
    for (const effect of effects) effect().catch((err: unknown) => this.log('error', 'storing a service report failed', { err: (err as Error).message }));
  }

  private async housekeeping(now: number): Promise<void> {
    try {
      const expired = await this.actuator.expire(now);
      // one report can have several actions in force (a tighten and the block it escalated to): it
      // expires with the last of them, and an episode's action ends with its own field only
      const inForce = expired.some((a) => a.anomalyId) ? new Set((await this.actuator.list(now)).map((a) => a.anomalyId)) : null;
      for (const a of expired) {
        const st = this.clients.peek(a.client);
        const ep = st?.decision.episode;
        // not when another anomaly's action on the field ended (an older episode's, written over by this one's)
        if (st && ep?.applied && ep.action === a.kind && a.field === actionField(a.kind, a.client) && (a.anomalyId === undefined || a.anomalyId === ep.reportId)) {
          st.decision = actionEnded(st.decision);
          this.changed(st);
        }
        if (!a.anomalyId) continue;
        if (inForce?.has(a.anomalyId)) {
          const r = await this.deps.reports.transition(a.anomalyId, { entry: { ts: now, who: this.who, what: 'action_ended', note: `${a.kind} ended (until ${new Date(a.until).toISOString()}); another action of this anomaly is still in force` } });
          if (r.ok) this.deps.publisher?.publish(r.report);
          continue;
        }
        const r = await this.deps.reports.transition(a.anomalyId, { to: 'expired', from: ['actioned'], entry: { ts: now, who: this.who, what: 'expired', note: `${a.kind} ended (until ${new Date(a.until).toISOString()})` } });
        if (!r.ok && r.reason === 'conflict') await this.deps.reports.transition(a.anomalyId, { entry: { ts: now, who: this.who, what: 'expired', note: `${a.kind} ended` } });
        const latest = await this.deps.reports.get(a.anomalyId);
        if (latest) this.deps.publisher?.publish(latest);
      }
    } catch (err) {
      this.metrics.controlErrors.inc();
      this.log('warn', 'expiring actions failed; retried next tick', { err: (err as Error).message });
    }
    if (now - this.lastTrim >= 60_000) {
      this.lastTrim = now;
      try {
        await this.deps.reports.trim(now, this.policy.analyzer.retentionMs);
      } catch (err) {
        this.metrics.reportErrors.inc();
        this.log('warn', 'trimming reports failed', { err: (err as Error).message });
      }
    }
    if (now - this.lastGauges >= 5_000) {
      this.lastGauges = now;
      this.metrics.clients.set(this.clients.size);
      if (this.restorer) this.metrics.statePending.set(this.restorer.stats.pending);
      try {
        const active = await this.actuator.list(now);
        this.metrics.activeBlocks.set(active.filter((a) => a.kind === 'block').length);
        this.metrics.activeOverrides.set(active.filter((a) => a.kind === 'tighten').length);
      } catch {
        // the control plane is down: gauges keep their last value
      }
    }
  }

  // ---------------------------------------------------------------- partitions, lifecycle

  /**
   * Partitions this instance no longer owns (a rebalance): their open windows are closed now as
   * partial — not scored, not learned — because the new owner counts the rest of them.
   */
  async revoke(partitions: readonly number[], now: number = this.clock()): Promise<number> {
    const closed: Closed[] = [];
    for (const p of partitions) {
      const pc = this.partitions.get(p);
      if (!pc) continue;
      this.collect(pc, Number.POSITIVE_INFINITY, closed, true);
      this.partitions.delete(p);
    }
    if (this.restorer) {
      // with snapshots the new owner restores these clients: hand their state to the snapshot
      // writer and let go of it, so a partition coming back later restores the newer state
      const gone = new Set(partitions);
      this.restorer.drop(gone);
      for (const st of [...this.clients.values()]) {
        if (!gone.has(st.partition)) continue;
        this.clients.delete(st.key);
        this.urgent.delete(st);
        // whoever reads the partition next starts at the held-back commit, so the events of its
        // open windows come again — also here, when the partition comes back before the snapshot
        // writer took the client (takeBack): they count in their window, not twice in the context
        if (st.ctx.lastTs > st.replayUntil) st.replayUntil = st.ctx.lastTs;
        if (st.dirty) this.handOff(st);
      }
      // and so for those that left the LRU before and wait for (or are in) the snapshot writer: takeBack returns them too
      for (const waiting of [this.handoff, this.writing]) {
        for (const st of waiting.values()) if (gone.has(st.partition) && st.ctx.lastTs > st.replayUntil) st.replayUntil = st.ctx.lastTs;
      }
    }
    await this.process(closed, now);
    return closed.length;
  }

  // ---------------------------------------------------------------- state snapshots (analyzer/state/)

  /** Whether clients are restored from a state store. */
  get stateEnabled(): boolean {
    return this.restorer !== null;
  }

  /** Event time before which every window of `partition` has been scored and acted on (-∞: none yet). */
  scoredUntil(partition: number): number {
    return this.partitions.get(partition)?.scoredUntil ?? Number.NEGATIVE_INFINITY;
  }

  /** The consumer group's state from the store: the warm-up mark and the tiers' population rings. */
  restoreGroup(group: GroupState): { populations: number; bad: number } {
    if (group.warmSince !== null && eventTimeFault(group.warmSince, this.clock()) === 'future') {
      // written from a future event time before such events were skipped: it would hold every
      // decision back until then, so it is not believed (warm-up as on a first start)
      this.log('warn', 'the stored warm-up mark is in the future; ignored', { warmSince: group.warmSince });
    } else if (group.warmSince !== null) {
      this.groupWarmSince = group.warmSince;
      if (group.warmSince < this.firstEventTs) this.firstEventTs = group.warmSince;
    }
    let populations = 0;
    let bad = 0;
    for (const [key, bytes] of group.populations) {
      const at = key.lastIndexOf('/');
      const sizeMs = Number(key.slice(at + 1));
      if (at <= 0 || (sizeMs !== W10 && sizeMs !== W60)) {
        bad++;
        continue;
      }
      const ring = this.population.ring(key.slice(0, at), sizeMs, true)!;
      if (ring.size > 0) continue; // learned here already: keep it
      const decoded = decodePopulationRing(bytes, ring);
      if (decoded.ok) populations++;
      else {
        bad++;
        this.log('warn', 'a population snapshot did not decode; that tier relearns', { tier: key, err: decoded.error });
      }
    }
    if (bad > 0) this.metrics.stateRestores.inc({ result: 'bad' }, bad);
    return { populations, bad };
  }

  /** The warm-up mark to store: the group's, or this instance's first event time. */
  get warmSince(): number | null {
    const own = Number.isFinite(this.firstEventTs) ? this.firstEventTs : null;
    return this.groupWarmSince ?? own;
  }

  /** Clients that learned since their last snapshot (held ones and handed-off ones); clears their mark. */
  takeDirty(): ClientState[] {
    const out = this.takeHandoff();
    for (const st of this.clients.values()) {
      if (!st.dirty) continue;
      st.dirty = false;
      out.push(st);
    }
    this.urgent.clear();
    return out;
  }

  /** Clients whose decision state changed, and handed-off ones: written within a second. */
  takeUrgent(): ClientState[] {
    const out = this.takeHandoff();
    for (const st of this.urgent) {
      if (st.evicted) continue;
      st.dirty = false;
      out.push(st);
    }
    this.urgent.clear();
    return out;
  }

  /** A write failed: these clients are dirty again (retried with the next flush). */
  markDirty(states: readonly ClientState[]): void {
    for (const st of states) {
      st.dirty = true;
      // not in place of a newer state of the client waiting there (it came back and left again)
      if ((st.evicted || this.clients.peek(st.key) !== st) && !this.handoff.has(st.key)) this.handOff(st);
    }
  }

  private takeHandoff(): ClientState[] {
    const out = [...this.handoff.values()];
    this.handoff.clear();
    for (const st of out) {
      st.dirty = false;
      this.writing.set(st.key, st);
    }
    return out;
  }

  /** The snapshot writer is done with these clients (written, skipped or failed and handed off again). */
  writeDone(states: readonly ClientState[]): void {
    if (this.writing.size === 0) return;
    for (const st of states) if (this.writing.get(st.key) === st) this.writing.delete(st.key);
  }

  /** The client's decision state changed: its snapshot is written within a second. */
  private changed(st: ClientState): void {
    if (!this.restorer) return;
    st.dirty = true;
    this.urgent.add(st);
  }

  private handOff(st: ClientState): void {
    if (this.handoff.size >= MAX_HANDOFF && !this.handoff.has(st.key)) {
      this.metrics.stateSnapshotDropped.inc();
      return;
    }
    this.handoff.set(st.key, st);
  }

  /** Closes and scores every open window (end of a replay or a benchmark run). */
  async finish(now: number = this.clock()): Promise<TickResult> {
    for (const pc of this.partitions.values()) pc.maxTs = Number.POSITIVE_INFINITY;
    const result = await this.tick(now);
    for (const pc of this.partitions.values()) pc.maxTs = pc.closedUntil;
    return result;
  }

  /**
   * A reloaded policy. It applies at once; in the background, what the analyzer did to clients the
   * new allowlist names is lifted (liftAllowlisted). The promise settles when that is done and never
   * rejects (failures are logged and counted): callers need not wait for it, tests can.
   */
  setPolicy(policy: Policy): Promise<void> {
    this.policy = policy;
    this.allowlist = new Set(policy.analyzer.allowlist.map(sidecarPartOrder));
    // maxClients applies on restart: lru-cache fixes its bound at construction
    const run = this.lifting.then(() => this.liftAllowlisted()).catch((err: unknown) => this.log('error', 'lifting actions on allowlisted clients failed', { err: (err as Error).message }));
    this.lifting = run;
    return run;
  }

  /**
   * Allowlisted clients are never acted on, also when the allowlist arrives by a reload: every block
   * and override of an anomaly on a client the policy now allowlists is lifted, as an operator's
   * dismissal lifts them (liftAnomaly), and its report records it (`unblocked` / `override removed`,
   * note `client allowlisted by policy`; an `actioned` report becomes `expired`, nothing of it being
   * in force). A pending action can no longer be approved: its report goes back to `open`. Clients
   * held here have their episode's action ended in their decision state; windows that follow are
   * decided as allowlisted (reported, never acted on). Runs after the tick under way, so an action
   * that tick decided under the old policy is lifted too.
   */
  private async liftAllowlisted(): Promise<void> {
    while (this.ticking) await this.ticking.catch(() => undefined);
    if (this.allowlist.size === 0) return;
    const now = this.clock();
    // anomaly id → the action that waited for an approval (null: one that may be in force)
    const anomalies = new Map<string, ProposedAction['kind'] | null>();
    for (const st of this.clients.values()) {
      const ep = st.decision.episode;
      if (ep === null || !(ep.applied || ep.pending) || !this.isAllowlisted(st.key)) continue;
      anomalies.set(ep.reportId, ep.pending ? ep.action : null);
      st.decision = actionEnded(st.decision);
      this.changed(st);
    }
    try {
      // also actions of episodes that ended (a block outlives its episode's 2 quiet minutes), approved
      // through another instance, or of clients not held here
      for (const a of await this.actuator.list(now)) if (a.anomalyId !== undefined && !anomalies.has(a.anomalyId) && this.isAllowlisted(a.client)) anomalies.set(a.anomalyId, null);
    } catch (err) {
      this.metrics.controlErrors.inc();
      this.log('error', 'reading the control plane to lift actions on allowlisted clients failed', { err: (err as Error).message });
    }
    for (const [id, pending] of anomalies) await this.liftForAllowlist(id, pending, now);
  }

  private async liftForAllowlist(id: string, pending: ProposedAction['kind'] | null, now: number): Promise<void> {
    let what: string | null;
    try {
      what = describeLifted(await this.actuator.lift(id, now));
    } catch (err) {
      this.metrics.controlErrors.inc();
      this.log('error', 'lifting the actions of an anomaly on an allowlisted client failed; they end at their TTL', { id, err: (err as Error).message });
      return;
    }
    const note = 'client allowlisted by policy';
    const store = this.deps.reports;
    try {
      let r: TransitionResult;
      if (what !== null) {
        const entry: HistoryEntry = { ts: now, who: this.who, what, note };
        r = await store.transition(id, { to: 'expired', from: ['actioned'], entry });
        if (!r.ok && r.reason === 'conflict') r = await store.transition(id, { entry });
      } else if (pending !== null) {
        r = await store.transition(id, { to: 'open', from: ['pending'], entry: { ts: now, who: this.who, what: 'held_back', note: `${pending} no longer awaits approval: ${note}` } });
      } else return;
      if (r.ok) this.deps.publisher?.publish(r.report);
    } catch (err) {
      this.metrics.reportErrors.inc();
      this.log('error', 'recording a lift for an allowlisted client on its report failed', { id, err: (err as Error).message });
    }
  }

  get currentPolicy(): Policy {
    return this.policy;
  }

  setAutoencoder(scorer: AutoencoderScorer | null): void {
    const old = this.autoencoder;
    this.autoencoder = scorer;
    this.metrics.modelInfo.reset();
    if (scorer) this.metrics.modelInfo.set({ version: scorer.metadata.version, backend: scorer.backend }, 1);
    if (old && old !== scorer) old.dispose();
  }

  get model(): AutoencoderScorer | null {
    return this.autoencoder;
  }

  /** Clean 10 s feature vectors seen recently (reservoir sample), for retraining. */
  trainingSample(): Float64Array[] {
    return [...this.reservoir];
  }

  /** Decision state hook for operator actions (approve/dismiss/unblock) on a client this instance owns. */
  updateDecision(client: string, update: (state: DecisionState) => DecisionState): void {
    const st = this.clients.peek(client);
    if (st) {
      st.decision = update(st.decision);
      this.changed(st);
    }
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get seriesDetector(): string {
    return this.seriesFactory.name;
  }

  // ---------------------------------------------------------------- views for the operator API

  client(key: string): ClientView | null {
    const st = this.clients.peek(key);
    if (!st) return null;
    const baselineOf = (sizeMs: number): ClientView['baseline']['10s'] => {
      const b = sizeMs === W10 ? st.b10 : st.b60;
      const exp = expectationFor(b, this.population.ring(st.tier, sizeMs), st.seasonal, sizeMs, this.clock(), sizeMs === W10 ? this.options.minHistory10s : this.options.minHistory60s);
      const out: ClientView['baseline']['10s'] = [];
      for (let i = 0; i < FEATURE_COUNT; i++) {
        out.push({ feature: featureName(i), centre: round4(exp.raw[i]!), spread: round4(exp.sigma[i]!), source: exp.source });
      }
      return out;
    };
    return {
      client: st.key,
      tier: st.tier,
      service: st.service,
      windows: { '10s': st.b10.windows, '60s': st.b60.windows },
      stateBytes: st.heapBytes,
      lastScore: st.lastScore,
      decision: st.decision,
      baseline: { '10s': baselineOf(W10), '60s': baselineOf(W60) },
      recent: { '10s': st.recent10.list(), '60s': st.recent60.list() },
      seasonal: st.seasonal !== null,
    };
  }

  /** Clients by last score (highest first), for an overview. */
  topClients(limit = 20): Array<{ client: string; tier: string; lastScore: number }> {
    const out: Array<{ client: string; tier: string; lastScore: number }> = [];
    for (const st of this.clients.values()) out.push({ client: st.key, tier: st.tier, lastScore: st.lastScore });
    return out.sort((a, b) => b.lastScore - a.lastScore).slice(0, limit);
  }

  service(name: string): ServiceSeriesView | null {
    const s = this.serviceSeries.get(name);
    return s ? { service: name, points: [...s.recent] } : null;
  }

  services(): string[] {
    return [...this.serviceSeries.keys()];
  }

  /** Mean heap bytes per client (ClientState.heapBytes) over (up to) `sample` clients. */
  meanStateBytes(sample = 1_000): number {
    let n = 0;
    let sum = 0;
    for (const st of this.clients.values()) {
      sum += st.heapBytes;
      if (++n >= sample) break;
    }
    return n ? Math.round(sum / n) : 0;
  }
}

// ---------------------------------------------------------------- helpers

function featureName(i: number): string {
  return FEATURE_NAMES[i]!;
}

function round4(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : NaN;
}

/** Deterministic: the same client and window give the same id on any instance (idempotent creates). */
export function reportIdFor(client: string, windowEnd: number, sizeMs: number): string {
  const h = fmix32(hashString(client) ^ sizeMs);
  const h2 = hashString(`${client}#${sizeMs}`);
  return `${windowEnd.toString(36)}-${h.toString(16).padStart(8, '0')}${h2.toString(16).padStart(8, '0')}`;
}

function anomalyAction(a: ProposedAction, appliedAt: number | null, until?: number): AnomalyAction {
  return {
    kind: a.kind,
    ...(a.multiplier !== undefined && a.kind === 'tighten' ? { multiplier: a.multiplier } : {}),
    ...(a.ttlMs !== undefined && a.kind !== 'observe' ? { ttlMs: a.ttlMs } : {}),
    ...(until !== undefined ? { until } : appliedAt !== null && a.ttlMs !== undefined && a.kind !== 'observe' ? { until: appliedAt + a.ttlMs } : {}),
    applied: until !== undefined,
  };
}

function describeAction(a: ProposedAction, until: number | null): string {
  const end = until !== null ? ` until ${new Date(until).toISOString()}` : a.ttlMs !== undefined ? ` for ${Math.round(a.ttlMs / 1000)}s` : '';
  return a.kind === 'tighten' ? `tighten ×${a.multiplier}${end}` : `${a.kind}${end}`;
}

export { RecentWindows };

/** A look's report covers its span [start, end) up to the client's latest event (at least 1 ms). */
function upToLatest(st: ClientState, start: number, end: number): number {
  return Math.min(end, Math.max(start + 1, st.ctx.lastTs + 1));
}
