/**
 * State snapshots (analyzer/state/): the binary codec, restoring clients on their first event
 * without making ingest wait, the group's warm-up mark and population rings, and what is written
 * when. Memory stores and an injected clock: deterministic.
 */
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { Analyzer, type ClientView } from '../../../analyzer/analyzer.js';
import type { ClientState } from '../../../analyzer/clientState.js';
import { loadSeriesFactory } from '../../../analyzer/detectors/seriesScorer.js';
import { detectionOptions, type DetectionOptions } from '../../../analyzer/options.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { decodeClientState, decodePopulationRing, encodeClientState, encodePopulationRing, maxClientSnapshotBytes } from '../../../analyzer/state/snapshotCodec.js';
import { StateSnapshotter } from '../../../analyzer/state/snapshotter.js';
import { MemoryStateStore, type ClientStateStore, type GroupState } from '../../../analyzer/state/stateStore.js';
import { RobustRing } from '../../../analyzer/baselines/robustRing.js';
import { ByteReader, ByteWriter } from '../../../analyzer/state/binary.js';
import { T0, ev, policy } from './helpers.js';

const ACT = `analyzer:
  maxClients: 1000
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
`;
const KEYED = (c: number): string => `apiKey:${String(c).padStart(16, '0')}`;
const BUSY = KEYED(0);
const ATTACKER = 'ip:203.0.113.9';

interface Setup {
  readonly analyzer: Analyzer;
  readonly store: ClientStateStore;
  readonly snapshots: StateSnapshotter;
  now: number;
}

function setup(store: ClientStateStore | null, now = T0, detection: Partial<DetectionOptions> = {}, extra: { series?: Awaited<ReturnType<typeof loadSeriesFactory>>; restoreLimits?: Record<string, number> } = {}): Setup {
  const s = { now } as Setup;
  const analyzer = new Analyzer({
    policy: policy(ACT),
    controlPlane: new MemoryControlPlane(),
    reports: new MemoryReportStore(),
    clock: () => s.now,
    detection: { seasonalAfterMinutes: 2, ...detection },
    ...(store ? { state: store } : {}),
    ...(extra.series ? { series: extra.series } : {}),
    ...(extra.restoreLimits ? { restoreLimits: extra.restoreLimits } : {}),
  });
  return Object.assign(s, { analyzer, store: store!, snapshots: new StateSnapshotter(analyzer, store ?? new MemoryStateStore(), { clock: () => s.now }) });
}

/** 20 keyed clients, client 0 five times busier than the others, with varied IPs, routes and user agents. */
function normalAt(i: number, t: number): CallEvent[] {
  const batch: CallEvent[] = [];
  for (let c = 0; c < 20; c++) {
    const n = c === 0 ? 5 : (i + c) % 2 === 0 ? 1 : 0;
    for (let k = 0; k < n; k++) batch.push(ev({ ts: t + c * 10 + k * 150, client: KEYED(c), route: `/api/items/${(i * 7 + k) % 50}`, ip: `10.0.${c}.${k % 3}`, uaHash: `ua-${c}` }));
  }
  return batch;
}

const stuffing = (client: string) => (t: number): CallEvent[] => Array.from({ length: 30 }, (_, j) => ev({ ts: t + j * 30, client, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));

async function drive(s: Setup, seconds: number, extra: (t: number) => CallEvent[] = () => []): Promise<string[]> {
  const opened: string[] = [];
  for (let i = 0; i < seconds; i++) {
    const t = s.now;
    s.analyzer.ingest([...normalAt(Math.floor(t / 1000), t), ...extra(t)]);
    s.now = t + 1_000;
    for (const r of (await s.analyzer.tick(s.now)).opened) opened.push(r.client);
  }
  return opened;
}

function requestsCentre(view: ClientView | null): number {
  return view!.baseline['10s'].find((b) => b.feature === 'requests')!.centre;
}

/** The ClientState objects of an analyzer (through the snapshot hand-over, which clears their marks). */
function statesOf(a: Analyzer): Map<string, ClientState> {
  return new Map(a.takeDirty().map((st) => [st.key, st]));
}

test('a client snapshot round-trips: encoding the decoded state gives the same bytes, and it expects what the original did', async () => {
  const series = await loadSeriesFactory();
  const s = setup(new MemoryStateStore(), T0, {}, { series });
  await drive(s, 200);
  const st = statesOf(s.analyzer).get(BUSY)!;
  assert.ok(st.seasonal && st.series && st.ids && st.hasModel, 'an established keyed client has every part');
  const bytes = encodeClientState(st, series.name, s.now);
  assert.deepEqual(encodeClientState(st, series.name, s.now, new ByteWriter(8)), bytes, 'a writer that grows on the way gives the same bytes');
  const decoded = decodeClientState(bytes, BUSY, 0, s.analyzer.options, series, 'free');
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
  const back = decoded.value.state;
  assert.deepEqual(encodeClientState(back, series.name, s.now), bytes);
  assert.equal(decoded.value.seriesReset, false);
  for (let i = 0; i < 14; i++) {
    assert.equal(back.b10.centre(i), st.b10.centre(i));
    assert.equal(back.b10.sigma(i), st.b10.sigma(i));
    assert.equal(back.b60.centre(i), st.b60.centre(i));
  }
  assert.deepEqual(back.decision, st.decision);
  assert.equal(back.minutes, st.minutes);
  assert.equal(back.ctx.windowsSeen, st.ctx.windowsSeen);
  assert.deepEqual(back.seasonal!.exportState(), st.seasonal!.exportState());
  assert.deepEqual(back.ids!.exportState(), st.ids!.exportState());
  // the series detector resumes exactly: the next value scores the same
  assert.equal(back.series!.update(40, s.now + 10_000), st.series!.update(40, s.now + 10_000));
  assert.ok(bytes.length <= maxClientSnapshotBytes(s.analyzer.options, st.series!.serialize().length), `${bytes.length} bytes`);
});

test('snapshots written before new devices, then stranger addresses, were counted decode, without them; the next one has them', async () => {
  const s = setup(new MemoryStateStore());
  await drive(s, 120);
  const st = statesOf(s.analyzer).get(BUSY)!;
  // three new devices on the key, past its first ten minutes
  const minute = st.ids!.since + 20;
  for (let i = 0; i < 3; i++) st.ids!.observe(0x1000 + i, 0x2000 + i, minute);
  assert.equal(st.ids!.debutsSince(minute, 2), 3);
  assert.equal(st.ids!.strangerAddresses(minute), 3);
  const bytes = encodeClientState(st, 'robust-z', s.now);
  const series = { name: 'robust-z', create: () => st.series! };
  const now = decodeClientState(bytes, BUSY, 0, s.analyzer.options, series, 'free');
  assert.ok(now.ok, now.ok ? '' : now.error);
  assert.equal(now.value.state.ids!.debutsSince(minute, 2), 3);
  assert.equal(now.value.state.ids!.strangerAddresses(minute), 3);
  // the same snapshot as earlier writers laid it out: the last `rings` 10 × u16 rings before the IP
  // table left out, and their flags (512 debuts, 1024 stranger addresses) cleared
  const ids = st.ids!.exportState();
  const tables = 2 + 12 * ids.ips.hashes.length + 2 + 12 * ids.uas.hashes.length;
  const earlier = (rings: number, flags: number): Uint8Array => {
    const cut = 20 * rings;
    const at = bytes.length - 4 - tables - cut;
    const old = new Uint8Array(bytes.length - cut);
    old.set(bytes.subarray(0, at));
    old.set(bytes.subarray(at + cut, bytes.length - 4), at);
    const view = new DataView(old.buffer);
    assert.equal(view.getUint16(3, true) & flags, flags);
    view.setUint16(3, view.getUint16(3, true) & ~flags, true);
    view.setUint32(old.length - 4, crc32(old.subarray(0, old.length - 4)), true);
    return old;
  };
  const withDebuts = decodeClientState(earlier(1, 1024), BUSY, 0, s.analyzer.options, series, 'free');
  assert.ok(withDebuts.ok, withDebuts.ok ? '' : withDebuts.error);
  assert.equal(withDebuts.value.state.ids!.debutsSince(minute, 2), 3);
  assert.equal(withDebuts.value.state.ids!.strangerAddresses(minute), 0);
  const before = decodeClientState(earlier(2, 512 | 1024), BUSY, 0, s.analyzer.options, series, 'free');
  assert.ok(before.ok, before.ok ? '' : before.error);
  const restored = before.value.state.ids!;
  assert.equal(restored.debutsSince(minute, 2), 0);
  assert.equal(restored.strangerAddresses(minute), 0);
  assert.equal(restored.strangerRequests(minute), 3, 'the rest of the tables come back');
  assert.deepEqual(restored.exportState().ips, ids.ips);
  assert.equal(encodeClientState(before.value.state, 'robust-z', s.now).length, bytes.length, 'it is written back in the current layout');
});

test('a snapshot that is corrupted, truncated, of another version or of other ring lengths does not decode', async () => {
  const s = setup(new MemoryStateStore());
  await drive(s, 120);
  const st = statesOf(s.analyzer).get(BUSY)!;
  const bytes = encodeClientState(st, 'robust-z', s.now);
  const flipped = bytes.slice();
  flipped[200]! ^= 0x10;
  const version = bytes.slice();
  version[1] = 9;
  const cases: Array<[string, Uint8Array, DetectionOptions]> = [
    ['a flipped bit', flipped, s.analyzer.options],
    ['truncated', bytes.slice(0, bytes.length - 9), s.analyzer.options],
    ['another version', version, s.analyzer.options],
    ['garbage', new TextEncoder().encode('not a snapshot at all'), s.analyzer.options],
    ['empty', new Uint8Array(0), s.analyzer.options],
    ['other ring lengths', bytes, detectionOptions({ ring10s: 40 })],
  ];
  for (const [what, b, opts] of cases) {
    const r = decodeClientState(b, BUSY, 0, opts, { name: 'robust-z', create: () => st.series! }, 'free');
    assert.equal(r.ok, false, what);
  }
});

test('a bad snapshot in the store is counted and ignored: that client starts fresh, the others are restored', async () => {
  const store = new MemoryStateStore();
  const a = setup(store);
  await drive(a, 360);
  await a.snapshots.flush();
  store.clients.set(KEYED(3), new TextEncoder().encode('garbage'));
  const b = setup(store, a.now);
  await drive(b, 3);
  const metric = await b.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_state_restores_total');
  assert.match(metric, /result="bad"\} 1/);
  assert.match(metric, /result="restored"\} 19/);
  assert.ok(b.analyzer.client(KEYED(3))!.windows['10s'] < 2, 'client 3 started fresh');
  assert.ok(b.analyzer.client(KEYED(5))!.windows['10s'] > 5, 'client 5 was restored');
});

test('events that arrive while a snapshot is looked up are held and counted in the restored client, in order', async () => {
  const store = new MemoryStateStore();
  const a = setup(store);
  await drive(a, 360);
  await a.snapshots.flush();
  const windowsBefore = a.analyzer.client(BUSY)!.windows['10s'];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow: ClientStateStore = { ...store, ttlMs: store.ttlMs, getClients: async (c) => (await gate, store.getClients(c)), putClients: (e) => store.putClients(e), getGroup: () => store.getGroup(), putGroup: (w, p) => store.putGroup(w, p) };
  const b = setup(slow, a.now);
  const t = Math.ceil(a.now / 10_000) * 10_000;
  b.analyzer.ingest(Array.from({ length: 7 }, (_, k) => ev({ ts: t + k * 100, client: BUSY, uaHash: 'ua-0', ip: '10.0.0.1' })));
  assert.equal(b.analyzer.client(BUSY), null, 'held, not admitted, while its snapshot is looked up');
  b.analyzer.ingest([ev({ ts: t + 900, client: BUSY, uaHash: 'ua-0', ip: '10.0.0.1' })]);
  release();
  b.now = t + 13_000;
  const r = await b.analyzer.tick(b.now);
  const scored = r.scored.find((w) => w.client === BUSY && w.sizeMs === 10_000)!;
  assert.equal(scored.features[0], 8, 'all eight held events are in the window');
  assert.equal(b.analyzer.client(BUSY)!.windows['10s'], windowsBefore + 1, 'on top of its restored history');
  assert.equal(scored.fusion.score < 0.5, true);
});

test('the new clients of one ingest batch are looked up together, in one batch', async () => {
  const store = new MemoryStateStore();
  const b = setup(store);
  b.analyzer.ingest(Array.from({ length: 300 }, (_, c) => ev({ client: `ip:10.9.${c >> 8}.${c & 255}` })));
  await b.analyzer.tick(T0 + 100);
  assert.deepEqual(store.lookups.map((l) => l.length), [256, 44], 'batches of at most 256 clients');
  assert.equal(b.analyzer.clientCount, 300);
});

test('ingest never waits on the store: a store that does not answer times out, the clients start fresh and keep every event', async () => {
  const never: ClientStateStore = { ttlMs: 1, getClients: () => new Promise(() => undefined), putClients: async () => undefined, getGroup: async () => ({ warmSince: null, populations: new Map() }), putGroup: async () => undefined };
  const b = setup(never, T0, {}, { restoreLimits: { timeoutMs: 50, backoffMs: 60_000 } });
  const started = performance.now();
  b.analyzer.ingest(Array.from({ length: 5 }, (_, k) => ev({ ts: T0 + k * 100 })));
  assert.ok(performance.now() - started < 20, 'ingest returned at once');
  b.now = T0 + 13_000;
  const r = await b.analyzer.tick(b.now);
  assert.equal(r.scored[0]!.features[0], 5);
  const metric = await b.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_state_restores_total');
  assert.match(metric, /result="error"\} 1/);
  // backing off: the next new client is admitted at once, without a lookup
  b.analyzer.ingest([ev({ client: 'ip:10.1.1.1', ts: T0 + 13_000 })]);
  assert.ok(b.analyzer.client('ip:10.1.1.1'));
  assert.match(await b.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_state_restores_total'), /result="skipped"\} 1/);
});

test('held clients and events are bounded: beyond maxPending a client is admitted fresh at once, beyond maxPerClient with what it held', async () => {
  const store = new MemoryStateStore();
  const b = setup(store, T0, {}, { restoreLimits: { maxPending: 2, maxPerClient: 3 } });
  b.analyzer.ingest([ev({ client: 'ip:10.0.0.1' }), ev({ client: 'ip:10.0.0.2' }), ev({ client: 'ip:10.0.0.3' })]);
  assert.equal(b.analyzer.client('ip:10.0.0.3')!.windows['10s'], 0, 'the third was admitted fresh at once');
  assert.equal(b.analyzer.client('ip:10.0.0.1'), null);
  b.analyzer.ingest(Array.from({ length: 4 }, () => ev({ client: 'ip:10.0.0.1' })));
  assert.ok(b.analyzer.client('ip:10.0.0.1'), 'its buffer filled: admitted with what it held');
  b.now = T0 + 13_000;
  const r = await b.analyzer.tick(b.now);
  assert.equal(r.scored.find((w) => w.client === 'ip:10.0.0.1')!.features[0], 5, 'no event lost');
  assert.match(await b.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_state_restores_total'), /result="skipped"\} 2/);
});

test('a restarted analyzer resumes: no warm-up when the group learned before, each client against its own restored baseline', async () => {
  const store = new MemoryStateStore();
  const a = setup(store);
  await drive(a, 12 * 60);
  await a.snapshots.flush();
  const busyBefore = requestsCentre(a.analyzer.client(BUSY));
  const quietBefore = requestsCentre(a.analyzer.client(KEYED(4)));
  assert.ok(busyBefore > quietBefore * 2, 'client 0 is busier than its tier');

  // a new instance of the group: same store, no memory
  const b = setup(store, a.now);
  const restored = b.analyzer.restoreGroup(await store.getGroup());
  assert.ok(restored.populations >= 2);
  await drive(b, 15);
  const busy = b.analyzer.client(BUSY)!;
  assert.ok(busy.windows['10s'] > 40, `history restored (${busy.windows['10s']} windows)`);
  assert.equal(busy.baseline['10s'].find((x) => x.feature === 'requests')!.source, 'client');
  assert.ok(Math.abs(requestsCentre(busy) - busyBefore) < 0.5, `its own centre ${requestsCentre(busy)} vs ${busyBefore} before`);
  const opened = await drive(b, 20, stuffing(KEYED(7)));
  assert.ok(opened.includes(KEYED(7)), 'an attack right after the restart is reported');

  // without the store: the same traffic opens nothing for 10 minutes
  const c = setup(null, a.now);
  await drive(c, 15);
  assert.equal((await drive(c, 20, stuffing(KEYED(7)))).includes(KEYED(7)), false, 'a fresh instance is warming up');
});

test('an episode open at the snapshot continues on the new instance: the attack goes on without a second report', async () => {
  const store = new MemoryStateStore();
  const a = setup(store, T0, { warmupMs: 60_000 });
  await drive(a, 120);
  const first = await drive(a, 20, stuffing(ATTACKER));
  assert.equal(first.filter((c) => c === ATTACKER).length, 1);
  const written = await a.snapshots.flushUrgent();
  assert.ok(written.clients >= 1, 'the decision change is written at once');
  await a.snapshots.flush();
  const b = setup(store, a.now, { warmupMs: 60_000 });
  b.analyzer.restoreGroup(await store.getGroup());
  const again = await drive(b, 20, stuffing(ATTACKER));
  assert.equal(again.filter((c) => c === ATTACKER).length, 0, 'same episode');
  assert.ok(b.analyzer.client(ATTACKER)!.decision.episode, 'episode restored');
});

test('revoking a partition hands its clients to the snapshot writer and lets go of them', async () => {
  const store = new MemoryStateStore();
  const a = setup(store);
  a.analyzer.ingest([ev({ client: 'ip:10.0.0.1', ts: T0 })], 1);
  a.analyzer.ingest([ev({ client: 'ip:10.0.0.2', ts: T0 })], 2);
  a.now = T0 + 13_000;
  await a.analyzer.tick(a.now);
  assert.equal(a.analyzer.clientCount, 2);
  await a.analyzer.revoke([1]);
  assert.equal(a.analyzer.client('ip:10.0.0.1'), null, 'let go');
  assert.ok(a.analyzer.client('ip:10.0.0.2'));
  const writer = new StateSnapshotter(a.analyzer, store, { clock: () => a.now, minWindows: 1 });
  const written = await writer.flushUrgent();
  assert.equal(written.clients, 1);
  assert.ok(store.clients.has('ip:10.0.0.1'));
});

test('only clients that learned since their last snapshot are written', async () => {
  const store = new MemoryStateStore();
  const a = setup(store);
  await drive(a, 360);
  assert.equal((await a.snapshots.flush()).clients, 20);
  assert.equal((await a.snapshots.flush()).clients, 0, 'nothing learned since');
  await drive(a, 10);
  assert.ok((await a.snapshots.flush()).clients > 0);
});

test('the warm-up mark and the population rings round-trip through the group state', async () => {
  const store = new MemoryStateStore();
  const a = setup(store);
  await drive(a, 90);
  await a.snapshots.flush();
  const group: GroupState = await store.getGroup();
  assert.equal(group.warmSince, T0);
  const ring = a.analyzer.population.ring('free', 10_000)!;
  const copy = new RobustRing(ring.width, ring.length, 512);
  assert.ok(decodePopulationRing(encodePopulationRing(ring, 1), copy).ok);
  assert.deepEqual(copy.exportState(), ring.exportState());
  assert.equal(decodePopulationRing(encodePopulationRing(ring, 1), new RobustRing(ring.width, 16, 8)).ok, false, 'another length');
  const b = setup(store, a.now);
  assert.deepEqual(b.analyzer.restoreGroup(group), { populations: group.populations.size, bad: 0 });
  assert.deepEqual(b.analyzer.population.ring('free', 10_000)!.exportState(), ring.exportState());
});

test('the analyzer marks, per partition, the event time up to which every window was scored', async () => {
  const s = setup(null);
  s.analyzer.ingest([ev({ ts: T0 + 1_000 })], 4);
  assert.equal(s.analyzer.scoredUntil(4), Number.NEGATIVE_INFINITY);
  s.now = T0 + 12_500;
  s.analyzer.ingest([ev({ ts: T0 + 12_500 })], 4);
  await s.analyzer.tick(T0 + 12_600);
  assert.equal(s.analyzer.scoredUntil(4), T0 + 10_000);
  assert.equal(s.analyzer.scoredUntil(5), Number.NEGATIVE_INFINITY);
});

test('an action that ran out while the client was not held has ended when it is restored: a new attack is acted on again', async () => {
  const store = new MemoryStateStore();
  const a = setup(store, T0, { warmupMs: 60_000 });
  await drive(a, 120);
  await drive(a, 20, stuffing(ATTACKER));
  await a.snapshots.flush();
  const restoredAt = a.now + 11 * 60_000; // after the 10-minute block
  const b = setup(store, restoredAt, { warmupMs: 60_000 });
  b.analyzer.restoreGroup(await store.getGroup());
  await drive(b, 15, stuffing(ATTACKER));
  const d = b.analyzer.client(ATTACKER)!.decision;
  assert.equal(d.episode?.action, 'block');
  assert.ok(d.episode!.until! > restoredAt, 'blocked again');
});

test('the byte writer grows as it writes and the reader reads back every type; a read past the end throws', () => {
  const w = new ByteWriter(4);
  for (let i = 0; i < 300; i++) {
    w.u8(i & 255);
    w.u16(i * 7);
    w.u32(i * 100_003);
    w.f32(i / 3);
    w.f64(i / 7);
    w.str8(`s${i}é`);
  }
  const r = new ByteReader(w.bytes());
  for (let i = 0; i < 300; i++) {
    assert.equal(r.u8(), i & 255);
    assert.equal(r.u16(), i * 7);
    assert.equal(r.u32(), i * 100_003);
    assert.equal(r.f32(), Math.fround(i / 3));
    assert.equal(r.f64(), i / 7);
    assert.equal(r.str8(), `s${i}é`);
  }
  assert.equal(r.remaining, 0);
  assert.throws(() => r.u8(), /truncated/);
});

test('what is written is bounded by history: a young client without decisions is not written, one under an hour is kept an hour, an established one the full TTL', async () => {
  const store = new MemoryStateStore();
  const a = setup(store);
  await drive(a, 120);
  a.analyzer.ingest([ev({ client: 'ip:10.7.7.7', ts: a.now })]);
  await drive(a, 15);
  const first = await a.snapshots.flush();
  assert.equal(first.clients, 0, 'two minutes of history: not worth keeping');
  assert.match(await a.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_state_snapshots_skipped_total'), /total 2\d/);
  await drive(a, 240);
  await a.snapshots.flush();
  assert.equal(store.ttls.get(BUSY), 3_600_000, 'six minutes of history: an hour');
  assert.equal(store.clients.has('ip:10.7.7.7'), false, 'seen once');
  await drive(a, 60 * 60);
  await a.snapshots.flush();
  assert.equal(store.ttls.get(BUSY), store.ttlMs, 'an hour of history: the full TTL');
});
