/**
 * The per-client features, defined once: what the analyzer measures per client per window, how
 * each value is computed from CallEvents, and how detectors read it. The analyzer's live windows,
 * the autoencoder's training code (models/ml) and the benchmarks all use this file, so a feature
 * means the same thing everywhere.
 *
 * A window accumulator only adds numbers on the ingest path; `vector()` turns it into the feature
 * vector when the window closes. 4xx counts every 4xx except 429 (rate-limit answers are counted by
 * `ratio_limited`, from the sidecar's decision, so our own limiting does not look like client errors).
 * What every client shares during an outage is left out (counts): 502/504, the sidecar's own 503s.
 */
import { SHED_RULE, type CallEvent } from './events.js';
import { DistinctCounter, RouteMemory, hashString } from './featureSketches.js';

/**
 * How a detector reads a feature:
 * - `count`: non-negative, heavy-tailed; compared on a log1p scale (multiplicative changes).
 * - `ratio`: a share of the window's requests in [0, 1]; binomial noise depends on the volume.
 * - `level`: a mean or a shape statistic; compared on its own scale (`log` says whether log1p applies).
 */
export type FeatureKind = 'count' | 'ratio' | 'level';

export interface FeatureSpec {
  readonly name: string;
  readonly kind: FeatureKind;
  /** Which way is suspicious: `up` (more is worse) or `down` (less is worse). */
  readonly direction: 'up' | 'down';
  /** Compared on log1p scale (counts always are). */
  readonly log: boolean;
  /** Scales with traffic volume, so hour-of-week seasonality of the request rate applies to it. */
  readonly seasonal: boolean;
  /** Weight of this feature's z in the statistical detector (noisy or indirect features weigh less). */
  readonly weight: number;
  /** Unit for explanations. */
  readonly unit: string;
  readonly description: string;
}

export const FEATURES: readonly FeatureSpec[] = [
  { name: 'requests', kind: 'count', direction: 'up', log: true, seasonal: true, weight: 1, unit: 'requests', description: 'requests in the window' },
  { name: 'cost', kind: 'count', direction: 'up', log: true, seasonal: true, weight: 0.9, unit: 'cost units', description: 'sum of the rules’ cost units (GraphQL cost, fixed costs)' },
  { name: 'ratio_4xx', kind: 'ratio', direction: 'up', log: false, seasonal: false, weight: 0.8, unit: '', description: 'share of answers 4xx other than 429' },
  { name: 'ratio_401_403', kind: 'ratio', direction: 'up', log: false, seasonal: false, weight: 1, unit: '', description: 'share of answers 401 or 403' },
  { name: 'ratio_5xx', kind: 'ratio', direction: 'up', log: false, seasonal: false, weight: 0.5, unit: '', description: 'share of answers 5xx' },
  { name: 'ratio_limited', kind: 'ratio', direction: 'up', log: false, seasonal: false, weight: 0.8, unit: '', description: 'share of requests limited, blocked or shadow-limited by the sidecar' },
  { name: 'distinct_routes', kind: 'count', direction: 'up', log: true, seasonal: true, weight: 1, unit: 'routes', description: 'distinct paths requested' },
  { name: 'distinct_ips', kind: 'count', direction: 'up', log: true, seasonal: false, weight: 1, unit: 'IPs', description: 'distinct source IPs using this client key' },
  { name: 'bytes', kind: 'count', direction: 'up', log: true, seasonal: true, weight: 0.7, unit: 'bytes', description: 'bytes in + out' },
  { name: 'latency_ms', kind: 'level', direction: 'up', log: true, seasonal: false, weight: 0.4, unit: 'ms', description: 'mean upstream latency of the client’s calls' },
  { name: 'interarrival_cv', kind: 'level', direction: 'down', log: false, seasonal: false, weight: 0.5, unit: '', description: 'coefficient of variation of gaps between requests (low: machine-regular)' },
  { name: 'ua_changes', kind: 'count', direction: 'up', log: true, seasonal: false, weight: 0.8, unit: 'changes', description: 'times the user agent changed between consecutive requests' },
  { name: 'new_route_share', kind: 'ratio', direction: 'up', log: false, seasonal: false, weight: 0.9, unit: '', description: 'share of requests to routes this client never requested before' },
  { name: 'sequential_id_share', kind: 'ratio', direction: 'up', log: false, seasonal: false, weight: 1, unit: '', description: 'share of requests whose numeric path id follows the previous one (+1…+3) on the same path: enumeration' },
];

export const FEATURE_COUNT = FEATURES.length;
export const FEATURE_NAMES: readonly string[] = FEATURES.map((f) => f.name);

/** Index of each feature in a vector. */
export const F = {
  requests: 0,
  cost: 1,
  ratio4xx: 2,
  ratio401403: 3,
  ratio5xx: 4,
  ratioLimited: 5,
  distinctRoutes: 6,
  distinctIps: 7,
  bytes: 8,
  latencyMs: 9,
  interarrivalCv: 10,
  uaChanges: 11,
  newRouteShare: 12,
  sequentialIdShare: 13,
} as const;

/** The tumbling windows, closed by event time. */
export const WINDOW_SIZES_MS = [10_000, 60_000] as const;
export type WindowSize = (typeof WINDOW_SIZES_MS)[number];

/** `requests` + `_10s` → `requests_10s` (the names explanations use). */
export function featureLabel(index: number, sizeMs: number): string {
  return `${FEATURES[index]!.name}_${sizeMs % 60_000 === 0 ? sizeMs / 60_000 + 'm' : sizeMs / 1000 + 's'}`;
}

/** Gaps below this many make the inter-arrival CV meaningless (NaN). */
export const MIN_GAPS_FOR_CV = 3;

/**
 * What a client carries from one window to the next: the last arrival (for gaps), the last user
 * agent (for changes) and the routes it has requested before.
 */
export class FeatureContext {
  lastTs = -1;
  lastUa: string | null = null;
  /** Hash of the path before the last numeric segment, and that number (enumeration). */
  lastIdPrefix = 0;
  lastId = -1;
  readonly routes = new RouteMemory();
  /** Closed windows so far. */
  windowsSeen = 0;

  /** Whether a window opening now has route history to compare with (the client sent before). */
  get hasHistory(): boolean {
    return this.lastTs >= 0;
  }

  get bytes(): number {
    return 56 + this.routes.bytes;
  }
}

/** Counters of one client in one window. `add` is the ingest path: numbers only, no allocation. */
export class WindowAccumulator {
  count = 0;
  cost = 0;
  c4xx = 0;
  c401403 = 0;
  c5xx = 0;
  cLimited = 0;
  bytes = 0;
  latencySum = 0;
  /** Calls with a latency sample (not a gateway error: see counts). */
  latencyN = 0;
  gapN = 0;
  gapSum = 0;
  gapSq = 0;
  uaChanges = 0;
  newRoutes = 0;
  sequentialIds = 0;
  /** Whether the client had route history when this window opened (else new_route_share is NaN). */
  routeHistory: boolean;
  readonly routes = new DistinctCounter();
  readonly ips = new DistinctCounter();
  /** Latest service seen in the window (a client may call several; reports name the latest). */
  service = '';

  constructor(
    readonly start: number,
    readonly sizeMs: number,
    routeHistory: boolean,
  ) {
    this.routeHistory = routeHistory;
  }

  get end(): number {
    return this.start + this.sizeMs;
  }

  add(e: CallEvent, ctx: FeatureContext): void {
    const routeHash = this.counts(e);
    const ts = e.ts;
    if (ctx.lastTs >= 0) {
      const gap = ts - ctx.lastTs;
      if (gap >= 0) {
        this.gapN++;
        this.gapSum += gap;
        this.gapSq += gap * gap;
      }
    }
    if (ts > ctx.lastTs) ctx.lastTs = ts;
    const ua = e.uaHash;
    if (ua !== null) {
      if (ctx.lastUa !== null && ctx.lastUa !== ua) this.uaChanges++;
      ctx.lastUa = ua;
    }
    if (!ctx.routes.seenOrAdd(routeHash)) this.newRoutes++;
    const route = e.route;
    const last = route.charCodeAt(route.length - 1);
    if (last >= 48 && last <= 57) this.numericId(route, ctx);
  }

  /**
   * An event the client's restored snapshot already saw (re-read after a rebalance or restart, as
   * offsets are committed only up to what was scored): its counts go into the window — open windows
   * are not in snapshots — but the feature context, which already holds its effect, is left alone.
   * Its gap, agent change, id step and whether its route was new are not known again, so they are
   * not counted: the replayed part of a window under-counts those, never double-counts them.
   */
  addReplayed(e: CallEvent): void {
    this.counts(e);
  }

  /** What an event adds whatever came before it: counts, sums, distinct routes and addresses. Returns its route's hash. */
  private counts(e: CallEvent): number {
    this.count++;
    this.cost += e.cost;
    const status = e.status;
    const d = e.decision;
    // what every client shares is not one client's behaviour (the load watcher reads it instead): a
    // gateway error (502/504: the backend unreachable or too slow, the sidecar's own included — it
    // is never counted against the client, DESIGN.md), a 503 the sidecar refused with (`limited`:
    // the store away under failMode closed, or a shed under backend overload, SHED_RULE), or any
    // answer the sidecar made for a reason of its own (selfAnswered: draining, its own failure)
    const gateway = status === 502 || status === 504;
    const refused503 = status === 503 && d === 'limited';
    if (status >= 400 && status < 500) {
      if (status !== 429) {
        this.c4xx++;
        if (status === 401 || status === 403) this.c401403++;
      }
    } else if (status >= 500 && !gateway && !refused503 && e.selfAnswered !== true && e.rule !== SHED_RULE) this.c5xx++;
    if ((d === 'limited' && !refused503 && e.rule !== SHED_RULE) || d === 'blocked' || d === 'shadow_limited') this.cLimited++;
    this.bytes += e.bytesIn + e.bytesOut;
    // a gateway error's latency is how long the backend kept it failing (a timeout), not a sample of the client's calls
    if (!gateway) {
      this.latencySum += e.latencyMs;
      this.latencyN++;
    }
    const routeHash = hashString(e.route);
    this.routes.add(routeHash);
    this.ips.add(hashString(e.ip));
    this.service = e.service;
    return routeHash;
  }

  /** `/api/items/41` after `/api/items/40`: an id walked in order (enumeration). */
  private numericId(route: string, ctx: FeatureContext): void {
    let i = route.length - 1;
    while (i >= 0 && route.charCodeAt(i) >= 48 && route.charCodeAt(i) <= 57) i--;
    if (i < 0 || route.charCodeAt(i) !== 47 || route.length - i > 16) return;
    const id = Number(route.slice(i + 1));
    const prefix = hashString(route.slice(0, i));
    if (prefix === ctx.lastIdPrefix && ctx.lastId >= 0) {
      const step = id - ctx.lastId;
      if (step >= 1 && step <= 3) this.sequentialIds++;
    }
    ctx.lastIdPrefix = prefix;
    ctx.lastId = id;
  }

  /** Adds a closed sub-window (10 s into 60 s): sums add, distinct sets unite. */
  merge(o: WindowAccumulator): void {
    this.count += o.count;
    this.cost += o.cost;
    this.c4xx += o.c4xx;
    this.c401403 += o.c401403;
    this.c5xx += o.c5xx;
    this.cLimited += o.cLimited;
    this.bytes += o.bytes;
    this.latencySum += o.latencySum;
    this.latencyN += o.latencyN;
    this.gapN += o.gapN;
    this.gapSum += o.gapSum;
    this.gapSq += o.gapSq;
    this.uaChanges += o.uaChanges;
    this.newRoutes += o.newRoutes;
    this.sequentialIds += o.sequentialIds;
    this.routeHistory = this.routeHistory && o.routeHistory;
    this.routes.merge(o.routes);
    this.ips.merge(o.ips);
    if (o.service) this.service = o.service;
  }

  /** The feature vector (FEATURES order). NaN marks a feature without meaning in this window. */
  vector(out: Float64Array = new Float64Array(FEATURE_COUNT)): Float64Array {
    const n = this.count;
    out[F.requests] = n;
    out[F.cost] = this.cost;
    out[F.ratio4xx] = n > 0 ? this.c4xx / n : 0;
    out[F.ratio401403] = n > 0 ? this.c401403 / n : 0;
    out[F.ratio5xx] = n > 0 ? this.c5xx / n : 0;
    out[F.ratioLimited] = n > 0 ? this.cLimited / n : 0;
    out[F.distinctRoutes] = this.routes.count();
    out[F.distinctIps] = this.ips.count();
    out[F.bytes] = this.bytes;
    out[F.latencyMs] = n === 0 ? 0 : this.latencyN > 0 ? this.latencySum / this.latencyN : NaN;
    out[F.interarrivalCv] = interarrivalCv(this.gapN, this.gapSum, this.gapSq);
    out[F.uaChanges] = this.uaChanges;
    out[F.newRouteShare] = this.routeHistory && n > 0 ? this.newRoutes / n : NaN;
    out[F.sequentialIdShare] = n > 0 ? this.sequentialIds / n : 0;
    return out;
  }

  /** Bytes held, for the per-client state figure. */
  get stateBytes(): number {
    return 160 + this.routes.bytes + this.ips.bytes;
  }
}

function interarrivalCv(n: number, sum: number, sq: number): number {
  if (n < MIN_GAPS_FOR_CV) return NaN;
  const mean = sum / n;
  if (mean <= 0) return NaN;
  const variance = Math.max(0, sq / n - mean * mean);
  return Math.sqrt(variance) / mean;
}

/** Windows of `sizeMs` are aligned to the epoch: the start of the window holding `ts`. */
export function windowStart(ts: number, sizeMs: number): number {
  return ts - (((ts % sizeMs) + sizeMs) % sizeMs);
}

/** A closed window's features, as computed offline. */
export interface ClosedWindow {
  readonly client: string;
  readonly tier: string | undefined;
  readonly start: number;
  readonly sizeMs: number;
  readonly vector: Float64Array;
}

/**
 * Feature vectors from events offline (training data, tests, benchmarks), one window size, events
 * fed in time order; `closeUntil(t)` closes every window that ended by `t`. The analyzer does the
 * same live with bounded lateness, LRU and 10 s → 60 s roll-ups.
 */
export class WindowedFeatures {
  private readonly contexts = new Map<string, FeatureContext>();
  private readonly open = new Map<string, { acc: WindowAccumulator; tier: string | undefined }>();

  constructor(readonly sizeMs: number) {}

  add(e: CallEvent): ClosedWindow | null {
    let ctx = this.contexts.get(e.client);
    if (!ctx) this.contexts.set(e.client, (ctx = new FeatureContext()));
    const start = windowStart(e.ts, this.sizeMs);
    let entry = this.open.get(e.client);
    let closed: ClosedWindow | null = null;
    if (entry && entry.acc.start !== start) {
      closed = this.close(e.client, entry.acc, entry.tier);
      entry = undefined;
    }
    if (!entry) this.open.set(e.client, (entry = { acc: new WindowAccumulator(start, this.sizeMs, ctx.hasHistory), tier: e.tier }));
    entry.acc.add(e, ctx);
    return closed;
  }

  closeUntil(ts: number): ClosedWindow[] {
    const out: ClosedWindow[] = [];
    for (const [client, entry] of this.open) if (entry.acc.end <= ts) out.push(this.close(client, entry.acc, entry.tier));
    return out;
  }

  private close(client: string, acc: WindowAccumulator, tier: string | undefined): ClosedWindow {
    this.open.delete(client);
    this.contexts.get(client)!.windowsSeen++;
    return { client, tier, start: acc.start, sizeMs: acc.sizeMs, vector: acc.vector() };
  }
}

/** All windows of a list of events (sorted here), in window order. */
export function featuresOf(events: readonly CallEvent[], sizeMs: number): ClosedWindow[] {
  const wf = new WindowedFeatures(sizeMs);
  const out: ClosedWindow[] = [];
  for (const e of [...events].sort((a, b) => a.ts - b.ts)) {
    const closed = wf.add(e);
    if (closed) out.push(closed);
  }
  out.push(...wf.closeUntil(Number.POSITIVE_INFINITY));
  return out.sort((a, b) => a.start - b.start || (a.client < b.client ? -1 : 1));
}

/** A feature value on the scale detectors compare it (log1p for `log` features, NaN kept). */
export function toDetectorScale(index: number, value: number): number {
  return FEATURES[index]!.log ? Math.log1p(value > 0 ? value : 0) : value;
}

/** Inverse of toDetectorScale. */
export function fromDetectorScale(index: number, value: number): number {
  return FEATURES[index]!.log ? Math.expm1(value) : value;
}

/** Whole vector to detector scale. */
export function vectorToDetectorScale(vector: ArrayLike<number>, out: Float64Array = new Float64Array(FEATURE_COUNT)): Float64Array {
  for (let i = 0; i < FEATURE_COUNT; i++) out[i] = toDetectorScale(i, vector[i]!);
  return out;
}
