/**
 * Binary, versioned encoding of what the analyzer learned about one client, and of a tier's
 * population ring, for the state snapshots in Redis (analyzer/state/README section of
 * analyzer/README.md). Little-endian; every snapshot ends with a CRC-32 of the bytes before it, and
 * decoding checks the shape against the running options, so a snapshot that is truncated, corrupted,
 * of another version or of another configuration (ring lengths, feature count) does not decode —
 * the caller counts it and starts that client fresh.
 *
 * Client snapshot, version 1:
 *
 *   header   u8 magic 0xA7 · u8 version · u8 kind (1) · u16 flags · u8 features · u8 ring10 ·
 *            u8 ring60 · u8 lowAndSlow span · f64 savedAt
 *   context  f64 lastTs · u32 lastIdPrefix · f64 lastId · u32 windowsSeen · [str lastUa]
 *            route memory: u8 current · u16 inserted · dense 128 × u32 | sparse u16 n + n × u16 bit
 *   client   str tier · str service · u32 minutes · f64 usualIps · u32 usualIpsN · f32 lastScore
 *   decision f64 suppressedUntil · [u8 kind · f64 at] · [str reportId · f64 openedAt · f64 maxScore ·
 *            f64 lastHot · u8 action · u8 applied|pending · f64 until (NaN: none)]
 *   [model]  per 10 s and 60 s baseline: u32 windows · EWMA (F × f64 mean, F × f64 variance,
 *            F × u32 count) · ring (u16 filled · u16 sinceStats · filled × F × f32 oldest first ·
 *            F × f32 centre, sigma, high · F × u16 support); low-and-slow: u8 filled · 3 × filled × f32
 *   [season] dense 168 × (f32 mean, f32 |residual|, u16 count) | sparse u8 n + n × (u8 bucket …)
 *   [series] str factory name · u16 n · n × f64 (the detector's serialize())
 *   [ids]    u32 since · u32 strangerMinute · 10 × u16 strangers · [10 × u16 debuts: flag 512, always
 *            written now; older snapshots lack it and restore zeros] · [10 × u16 stranger addresses:
 *            flag 1024, the same] · IP and UA tables: u8 n ·
 *            u8 recent · n × u32 hash, first, last
 *   crc      u32 CRC-32 of everything above
 *
 * `str` is u8 length + UTF-8 (≤ 255 bytes; a longer tier or service is written empty and comes
 * back from the policy / the next event). Recent windows (the operator API's chart), open windows
 * and the retraining reservoir are not part of a snapshot.
 */
import { crc32 } from 'node:zlib';
import { FEATURE_COUNT } from '../../models/features.js';
import type { ActionKind } from '../../models/policy/index.js';
import { RobustRing, type RobustRingState } from '../baselines/robustRing.js';
import { HourOfWeekProfile, HOURS_PER_WEEK } from '../baselines/seasonal.js';
import type { WindowBaseline } from '../baselines/windowBaseline.js';
import { ClientState } from '../clientState.js';
import type { DecisionState, Episode } from '../decisions/decide.js';
import type { SeriesFactory } from '../detectors/seriesScorer.js';
import type { DetectionOptions } from '../options.js';
import { IP_CAPACITY, KeyIdentities, UA_CAPACITY, type SeenTableState } from '../recentIps.js';
import { ByteReader, ByteWriter } from './binary.js';

export const SNAPSHOT_MAGIC = 0xa7;
export const SNAPSHOT_VERSION = 1;
const KIND_CLIENT = 1;
const KIND_POPULATION = 2;

const HAS_MODEL = 1;
const HAS_SEASONAL = 2;
const HAS_SERIES = 4;
const HAS_IDS = 8;
const HAS_EPISODE = 16;
const HAS_LAST_ACTION = 32;
const ROUTES_SPARSE = 64;
const HAS_LAST_UA = 128;
const SEASONAL_SPARSE = 256;
/** The ids part has the debut ring (always written now; a snapshot without it restores zeros). */
const HAS_DEBUTS = 512;
/** The ids part has the stranger-address ring (always written now; a snapshot without it restores zeros). */
const HAS_STRANGER_IPS = 1024;

const ROUTE_WORDS = 128; // 2 generations × 2,048 bits (models/featureSketches.ts RouteMemory)
const STRANGER_SPAN = 10;
const HEADER_BYTES = 17;
const CRC_BYTES = 4;

const ACTIONS: readonly ActionKind[] = ['observe', 'tighten', 'block'];

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/**
 * Upper bound of one client snapshot with these options and a series state of `seriesValues`
 * numbers (tier, service, user agent and report id at their 255-byte maximum; every table full).
 */
export function maxClientSnapshotBytes(o: DetectionOptions, seriesValues: number): number {
  const F = FEATURE_COUNT;
  const str = 256;
  const baseline = (ring: number): number => 4 + F * 20 + 4 + ring * F * 4 + F * 14;
  return (
    HEADER_BYTES +
    (8 + 4 + 8 + 4 + str) +
    (3 + ROUTE_WORDS * 4) +
    (2 * str + 4 + 8 + 4 + 4) +
    (8 + 9 + str + 24 + 2 + 8) +
    baseline(o.ring10s) +
    baseline(o.ring60s) +
    (1 + 3 * o.lowAndSlow.span * 4) +
    HOURS_PER_WEEK * 10 +
    (str + 2 + seriesValues * 8) +
    (8 + 3 * STRANGER_SPAN * 2 + 2 + IP_CAPACITY * 12 + 2 + UA_CAPACITY * 12) +
    CRC_BYTES
  );
}

// ---------------------------------------------------------------- client snapshots

/** Encodes what `st` learned. `seriesName`: the series factory's name (a state only restores into the same detector). */
export function encodeClientState(st: ClientState, seriesName: string, savedAt: number, w: ByteWriter = new ByteWriter()): Uint8Array {
  w.reset();
  const opts = st.opts;
  const routes = st.ctx.routes.exportState();
  let routeBits = 0;
  for (const word of routes.bits) routeBits += popcount(word);
  const routesSparse = 2 + routeBits * 2 < ROUTE_WORDS * 4;
  const season = st.seasonal?.exportState() ?? null;
  let seasonBuckets = 0;
  if (season) for (const c of season.count) if (c > 0) seasonBuckets++;
  const seasonSparse = season !== null && 1 + seasonBuckets * 11 < HOURS_PER_WEEK * 10;
  const lastUa = st.ctx.lastUa !== null && Buffer.byteLength(st.ctx.lastUa) <= 255 ? st.ctx.lastUa : null;
  const decision = st.decision;
  let flags = 0;
  if (st.hasModel) flags |= HAS_MODEL;
  if (season) flags |= HAS_SEASONAL;
  if (st.series) flags |= HAS_SERIES;
  if (st.ids) flags |= HAS_IDS | HAS_DEBUTS | HAS_STRANGER_IPS;
  if (decision.episode) flags |= HAS_EPISODE;
  if (decision.lastAction) flags |= HAS_LAST_ACTION;
  if (routesSparse) flags |= ROUTES_SPARSE;
  if (lastUa !== null) flags |= HAS_LAST_UA;
  if (seasonSparse) flags |= SEASONAL_SPARSE;

  w.u8(SNAPSHOT_MAGIC);
  w.u8(SNAPSHOT_VERSION);
  w.u8(KIND_CLIENT);
  w.u16(flags);
  w.u8(FEATURE_COUNT);
  w.u8(opts.ring10s);
  w.u8(opts.ring60s);
  w.u8(opts.lowAndSlow.span);
  w.f64(savedAt);

  const ctx = st.ctx;
  w.f64(ctx.lastTs);
  w.u32(ctx.lastIdPrefix >>> 0);
  w.f64(ctx.lastId);
  w.u32(ctx.windowsSeen);
  if (lastUa !== null) w.str8(lastUa);
  w.u8(routes.current);
  w.u16(routes.inserted);
  if (routesSparse) {
    w.u16(routeBits);
    for (let i = 0; i < ROUTE_WORDS; i++) {
      let word = routes.bits[i]!;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word);
        w.u16(i * 32 + bit);
        word &= word - 1;
      }
    }
  } else w.u32s(routes.bits);

  w.str8(st.tier);
  w.str8(st.service);
  w.u32(st.minutes);
  w.f64(st.usualIps);
  w.u32(st.usualIpsN);
  w.f32(st.lastScore);

  w.f64(decision.suppressedUntil);
  if (decision.lastAction) {
    w.u8(ACTIONS.indexOf(decision.lastAction.kind));
    w.f64(decision.lastAction.at);
  }
  if (decision.episode) {
    const ep = decision.episode;
    w.str8(ep.reportId);
    w.f64(ep.openedAt);
    w.f64(ep.maxScore);
    w.f64(ep.lastHot);
    w.u8(ACTIONS.indexOf(ep.action));
    w.u8((ep.applied ? 1 : 0) | (ep.pending ? 2 : 0));
    w.f64(ep.until ?? NaN);
  }

  if (st.hasModel) {
    writeBaseline(w, st.b10);
    writeBaseline(w, st.b60);
    const slow = st.lowSlow.exportState();
    w.u8(slow.length / 3);
    w.f32s(slow);
  }
  if (season) {
    if (seasonSparse) {
      w.u8(seasonBuckets);
      for (let b = 0; b < HOURS_PER_WEEK; b++) {
        if (season.count[b] === 0) continue;
        w.u8(b);
        w.f32(season.mean[b]!);
        w.f32(season.absResidual[b]!);
        w.u16(season.count[b]!);
      }
    } else {
      w.f32s(season.mean);
      w.f32s(season.absResidual);
      w.u16s(season.count);
    }
  }
  if (st.series) {
    const s = st.series.serialize();
    w.str8(seriesName);
    w.u16(s.length);
    w.f64s(s);
  }
  if (st.ids) {
    const ids = st.ids.exportState();
    w.u32(ids.since);
    w.u32(ids.strangerMinute);
    w.u16s(ids.strangers);
    w.u16s(ids.debuts);
    w.u16s(ids.strangerIps);
    writeSeen(w, ids.ips);
    writeSeen(w, ids.uas);
  }
  w.u32(crc32(w.written()));
  return w.bytes();
}

export interface RestoredClient {
  readonly state: ClientState;
  /** When the snapshot was written (the writer's clock). */
  readonly savedAt: number;
  /** The series state was of another detector or profile: the series starts afresh. */
  readonly seriesReset: boolean;
}

/**
 * A ClientState for `key` from a snapshot, or why not. `tierFallback` names the tier when the
 * snapshot has none; `series` creates the series scorer the state is restored into.
 */
export function decodeClientState(bytes: Uint8Array, key: string, partition: number, opts: DetectionOptions, series: SeriesFactory, tierFallback: string): Decoded<RestoredClient> {
  try {
    const r = checkedReader(bytes, KIND_CLIENT);
    const flags = r.u16();
    const features = r.u8();
    const ring10 = r.u8();
    const ring60 = r.u8();
    const span = r.u8();
    if (features !== FEATURE_COUNT || ring10 !== opts.ring10s || ring60 !== opts.ring60s || span !== opts.lowAndSlow.span) {
      throw new Error(`snapshot of another shape (features ${features}, rings ${ring10}/${ring60}, span ${span})`);
    }
    const savedAt = finite(r.f64(), 'savedAt');

    const lastTs = finite(r.f64(), 'lastTs');
    const lastIdPrefix = r.u32();
    const lastId = finite(r.f64(), 'lastId');
    const windowsSeen = r.u32();
    const lastUa = flags & HAS_LAST_UA ? r.str8() : null;
    const current = r.u8();
    const inserted = r.u16();
    const bits = new Uint32Array(ROUTE_WORDS);
    if (flags & ROUTES_SPARSE) {
      const n = r.u16();
      for (let i = 0; i < n; i++) {
        const bit = r.u16();
        if (bit >= ROUTE_WORDS * 32) throw new Error('route bit out of range');
        bits[bit >>> 5]! |= 1 << (bit & 31);
      }
    } else bits.set(r.u32s(ROUTE_WORDS));

    const tier = r.str8() || tierFallback;
    const st = new ClientState(key, tier, partition, opts);
    st.ctx.lastTs = lastTs;
    st.ctx.lastIdPrefix = lastIdPrefix; // unsigned, as hashString() returns it (ingest compares with ===)
    st.ctx.lastId = lastId;
    st.ctx.windowsSeen = windowsSeen;
    st.ctx.lastUa = lastUa;
    st.ctx.routes.importState({ bits, current, inserted });
    st.service = r.str8();
    st.minutes = r.u32();
    st.usualIps = nonNegative(r.f64(), 'usualIps');
    st.usualIpsN = r.u32();
    st.lastScore = r.f32();

    const suppressedUntil = r.f64();
    let lastAction: DecisionState['lastAction'] = null;
    if (flags & HAS_LAST_ACTION) lastAction = { kind: actionKind(r.u8()), at: r.f64() };
    let episode: Episode | null = null;
    if (flags & HAS_EPISODE) {
      const reportId = r.str8();
      const openedAt = r.f64();
      const maxScore = r.f64();
      const lastHot = r.f64();
      const action = actionKind(r.u8());
      const bitsAP = r.u8();
      const until = r.f64();
      episode = { reportId, openedAt, maxScore, lastHot, action, applied: (bitsAP & 1) !== 0, pending: (bitsAP & 2) !== 0, until: Number.isNaN(until) ? null : until };
    }
    st.decision = { episode, lastAction, suppressedUntil };

    if (flags & HAS_MODEL) {
      readBaseline(r, st.b10);
      readBaseline(r, st.b60);
      const filled = r.u8();
      const slow = r.f32s(filled * 3);
      for (const x of slow) nonNegative(x, 'low-and-slow ring');
      st.lowSlow.importState(slow);
    }
    if (flags & HAS_SEASONAL) {
      const profile = new HourOfWeekProfile(0.05, opts.seasonalMinSamples);
      if (flags & SEASONAL_SPARSE) {
        const mean = new Float32Array(HOURS_PER_WEEK);
        const absResidual = new Float32Array(HOURS_PER_WEEK);
        const count = new Uint16Array(HOURS_PER_WEEK);
        const n = r.u8();
        for (let i = 0; i < n; i++) {
          const b = r.u8();
          if (b >= HOURS_PER_WEEK) throw new Error('hour-of-week bucket out of range');
          mean[b] = r.f32();
          absResidual[b] = r.f32();
          count[b] = r.u16();
        }
        profile.importState(checkedSeason({ mean, absResidual, count }));
      } else profile.importState(checkedSeason({ mean: r.f32s(HOURS_PER_WEEK), absResidual: r.f32s(HOURS_PER_WEEK), count: r.u16s(HOURS_PER_WEEK) }));
      st.seasonal = profile;
    }
    let seriesReset = false;
    if (flags & HAS_SERIES) {
      const name = r.str8();
      const values = r.f64s(r.u16());
      const scorer = series.create('light');
      try {
        if (name !== series.name) throw new Error('another series detector');
        scorer.restore(values);
      } catch {
        seriesReset = true;
      }
      st.series = seriesReset ? series.create('light') : scorer;
    }
    if (flags & HAS_IDS) {
      const since = r.u32();
      const strangerMinute = r.u32();
      const strangers = r.u16s(STRANGER_SPAN);
      const debuts = flags & HAS_DEBUTS ? r.u16s(STRANGER_SPAN) : undefined;
      const strangerIps = flags & HAS_STRANGER_IPS ? r.u16s(STRANGER_SPAN) : undefined;
      const ips = readSeen(r, IP_CAPACITY);
      const uas = readSeen(r, UA_CAPACITY);
      st.ids = KeyIdentities.fromState({ since, strangerMinute, strangers, debuts, strangerIps, ips, uas });
    }
    if (r.remaining !== CRC_BYTES) throw new Error(`${r.remaining - CRC_BYTES} bytes left over`);
    return { ok: true, value: { state: st, savedAt, seriesReset } };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

// ---------------------------------------------------------------- population rings

/** Encodes a tier's population ring (one per tier and window size). */
export function encodePopulationRing(ring: RobustRing, savedAt: number): Uint8Array {
  const w = new ByteWriter(ring.width * ring.length * 4 + 256);
  w.u8(SNAPSHOT_MAGIC);
  w.u8(SNAPSHOT_VERSION);
  w.u8(KIND_POPULATION);
  w.u16(0);
  w.u8(ring.width);
  w.u16(ring.length);
  w.f64(savedAt);
  writeRing(w, ring);
  w.u32(crc32(w.written()));
  return w.bytes();
}

/** Restores a population ring into `into` (same width and length), or says why not. */
export function decodePopulationRing(bytes: Uint8Array, into: RobustRing): Decoded<{ savedAt: number }> {
  try {
    const r = checkedReader(bytes, KIND_POPULATION);
    r.u16();
    const width = r.u8();
    const length = r.u16();
    if (width !== into.width || length !== into.length) throw new Error(`population ring of another shape (${width} × ${length})`);
    const savedAt = r.f64();
    // read and check all of it before touching `into`: a refused ring changes nothing
    const state = readRingState(r, into);
    if (r.remaining !== CRC_BYTES) throw new Error(`${r.remaining - CRC_BYTES} bytes left over`);
    into.importState(state);
    return { ok: true, value: { savedAt } };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

// ---------------------------------------------------------------- parts

function checkedReader(bytes: Uint8Array, kind: number): ByteReader {
  if (bytes.length < 3 + CRC_BYTES) throw new Error(`snapshot of ${bytes.length} bytes is too short`);
  if (bytes[0] !== SNAPSHOT_MAGIC) throw new Error('not a state snapshot (magic)');
  if (bytes[1] !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${bytes[1]} is not ${SNAPSHOT_VERSION}`);
  if (bytes[2] !== kind) throw new Error(`snapshot kind ${bytes[2]} is not ${kind}`);
  const body = bytes.subarray(0, bytes.length - CRC_BYTES);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - CRC_BYTES, CRC_BYTES).getUint32(0, true);
  if (crc32(body) !== stored) throw new Error('snapshot checksum mismatch');
  const r = new ByteReader(bytes);
  r.u8();
  r.u8();
  r.u8();
  return r;
}

function writeBaseline(w: ByteWriter, b: WindowBaseline): void {
  w.u32(b.windows);
  w.f64s(b.ewma.mean);
  w.f64s(b.ewma.variance);
  w.u32s(b.ewma.count);
  writeRing(w, b.ring);
}

function readBaseline(r: ByteReader, b: WindowBaseline): void {
  b.windows = r.u32();
  // what EwmaVector.update can produce: finite means, finite non-negative variances (a non-finite
  // one would stay for good: every later step's result is non-finite and skipped)
  const mean = r.f64s(FEATURE_COUNT);
  const variance = r.f64s(FEATURE_COUNT);
  for (let i = 0; i < FEATURE_COUNT; i++) {
    finite(mean[i]!, 'EWMA mean');
    nonNegative(variance[i]!, 'EWMA variance');
  }
  b.ewma.mean.set(mean);
  b.ewma.variance.set(variance);
  b.ewma.count.set(r.u32s(FEATURE_COUNT));
  readRing(r, b.ring);
}

function writeRing(w: ByteWriter, ring: RobustRing): void {
  const s = ring.exportState();
  w.u16(s.filled);
  w.u16(Math.min(65_535, s.sinceStats));
  w.f32s(s.rows);
  w.f32s(s.centre);
  w.f32s(s.sigma);
  w.f32s(s.high);
  w.u16s(s.support);
}

function readRing(r: ByteReader, ring: RobustRing): void {
  ring.importState(readRingState(r, ring));
}

/** A ring's state as written, shaped for `ring` (not applied). */
function readRingState(r: ByteReader, ring: RobustRing): RobustRingState {
  const filled = r.u16();
  const sinceStats = r.u16();
  if (filled > ring.length) throw new Error(`ring of ${filled} rows exceeds its length ${ring.length}`);
  const width = ring.width;
  const rows = r.f32s(filled * width);
  const state = { rows, filled, sinceStats, centre: r.f32s(width), sigma: r.f32s(width), high: r.f32s(width), support: r.u16s(width) };
  // what RobustRing can hold: finite values or NaN (missing), spreads ≥ 0
  for (const x of rows) if (!Number.isNaN(x)) finite(x, 'ring value');
  for (let i = 0; i < width; i++) {
    if (!Number.isNaN(state.centre[i]!)) finite(state.centre[i]!, 'ring centre');
    if (!Number.isNaN(state.high[i]!)) finite(state.high[i]!, 'ring high');
    if (!Number.isNaN(state.sigma[i]!)) nonNegative(state.sigma[i]!, 'ring sigma');
  }
  return state;
}

/** The number, or an error naming it when it is not finite (NaN, ±Infinity). */
function finite(x: number, what: string): number {
  if (!Number.isFinite(x)) throw new Error(`${what} is not a finite number (${x})`);
  return x;
}

function nonNegative(x: number, what: string): number {
  if (!(finite(x, what) >= 0)) throw new Error(`${what} is negative (${x})`);
  return x;
}

function checkedSeason<T extends { mean: Float32Array; absResidual: Float32Array }>(s: T): T {
  for (let b = 0; b < s.mean.length; b++) {
    finite(s.mean[b]!, 'hour-of-week mean');
    nonNegative(s.absResidual[b]!, 'hour-of-week residual');
  }
  return s;
}

function writeSeen(w: ByteWriter, s: SeenTableState): void {
  w.u8(s.hashes.length);
  w.u8(s.recent);
  w.u32s(s.hashes);
  w.u32s(s.first);
  w.u32s(s.last);
}

function readSeen(r: ByteReader, capacity: number): SeenTableState {
  const n = r.u8();
  const recent = r.u8();
  if (n > capacity) throw new Error(`table of ${n} entries exceeds ${capacity}`);
  return { hashes: r.u32s(n), first: r.u32s(n), last: r.u32s(n), recent };
}

function actionKind(i: number): ActionKind {
  const k = ACTIONS[i];
  if (k === undefined) throw new Error(`action kind ${i} unknown`);
  return k;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
