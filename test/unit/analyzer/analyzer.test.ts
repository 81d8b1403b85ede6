import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAnomalyReport, encodeAnomalyReport, type AnomalyReport } from '../../../models/anomaly.js';
import type { ControlKind } from '../../../models/control.js';
import { MemoryControlPlane, type Unsequenced } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import type { DecisionState, Episode } from '../../../analyzer/decisions/decide.js';
import type { DetectionOptions } from '../../../analyzer/options.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { T0, ev, policy } from './helpers.js';
import { drive, setupAnalyzer, type AnalyzerHarness } from './harness.js';

const ACT = `analyzer:
  maxClients: 1000
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
    - { minScore: 0.7, action: tighten, multiplier: 0.2, ttl: 10m }
`;

function setup(analyzerYaml = ACT, ...rest: Parameters<typeof setupAnalyzer> extends [string, ...infer R] ? R : never): AnalyzerHarness {
  return setupAnalyzer(analyzerYaml, ...rest);
}

/** A counter's value from the analyzer's registry. */
async function counter(s: ReturnType<typeof setup>, name: string, labels = ''): Promise<number> {
  const m = new RegExp(`${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)`).exec(await s.analyzer.metrics.registry.getSingleMetricAsString(name));
  return m ? Number(m[1]) : NaN;
}

/** The one report opened for `client`, from a look at its still-open window [start, start + sizeMs), at most `withinMs` after start. */
function reportedBeforeClose(opened: AnomalyReport[], client: string, sizeMs: number, start: number, withinMs: number): AnomalyReport {
  const mine = opened.filter((r) => r.client === client);
  assert.equal(mine.length, 1, 'one report for the episode: the closed windows escalate it');
  const r = mine[0]!;
  assert.equal(r.window.sizeMs, sizeMs);
  assert.equal(r.window.start, start);
  assert.ok(r.window.end < start + sizeMs, `reported on the open window, up to ${(r.window.end - start) / 1000} s`);
  assert.ok(r.ts - start <= withinMs, `reported ${(r.ts - start) / 1000} s after the attack began`);
  return r;
}

const ATTACKER = 'ip:203.0.113.9';
// 15 failed logins a second: 150 a window, under the volumetric floor (200), so the rule that acts is credential stuffing's
const stuffing = (t: number): CallEvent[] => Array.from({ length: 15 }, (_, j) => ev({ ts: t + j * 60, client: ATTACKER, ip: '203.0.113.9', method: 'POST', route: '/login', status: 401, uaHash: null }));

test('a window closes only once event time has passed its end by the lateness', async () => {
  const s = setup();
  const at = async (t: number, events: CallEvent[]) => {
    s.now = t;
    s.analyzer.ingest(events);
    return s.analyzer.tick(t + 100);
  };
  assert.equal((await at(T0 + 9_000, [ev({ ts: T0 + 1_000 }), ev({ ts: T0 + 9_000 })])).closed, 0);
  assert.equal((await at(T0 + 11_000, [ev({ ts: T0 + 11_000 })])).closed, 0, 'watermark 9 s: the window [0, 10 s) waits');
  const r = await at(T0 + 12_500, [ev({ ts: T0 + 12_500 })]);
  assert.equal(r.closed, 1);
  assert.equal(r.scored[0]!.features[0], 2);
  assert.equal(r.scored[0]!.end, T0 + 10_000);
});

test('a late event is counted and folded into the open window, not lost', async () => {
  const s = setup();
  s.now = T0 + 13_000;
  s.analyzer.ingest([ev({ ts: T0 + 1_000 }), ev({ ts: T0 + 13_000 })]);
  await s.analyzer.tick(T0 + 13_100);
  s.analyzer.ingest([ev({ ts: T0 + 2_000 })]);
  const metric = await s.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_events_late_total');
  assert.match(metric, /ratewarden_events_late_total 1/);
  s.now = T0 + 25_000;
  s.analyzer.ingest([ev({ ts: T0 + 25_000 })]);
  const r = await s.analyzer.tick(T0 + 25_100);
  assert.equal(r.scored.find((w) => w.sizeMs === 10_000)!.features[0], 2);
});

test('an idle partition advances with the clock, so the last window of a quiet client closes', async () => {
  const s = setup();
  s.analyzer.ingest([ev({ ts: T0 + 1_000 })]);
  s.now = T0 + 1_000;
  assert.equal((await s.analyzer.tick(T0 + 2_000)).closed, 0);
  assert.equal((await s.analyzer.tick(T0 + 14_000)).closed, 1);
});

test('client state is bounded by an LRU over clients and evictions are counted', async () => {
  const s = setup('analyzer:\n  maxClients: 3\n');
  s.analyzer.ingest(Array.from({ length: 5 }, (_, i) => ev({ client: `ip:10.0.0.${i}` })));
  assert.equal(s.analyzer.clientCount, 3);
  assert.match(await s.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_clients_evicted_total'), /ratewarden_clients_evicted_total 2/);
  assert.equal(s.analyzer.client('ip:10.0.0.0'), null);
  assert.ok(s.analyzer.client('ip:10.0.0.4'));
});

test('credential stuffing after the warm-up opens one report, blocks the client in the control plane and publishes the report', async () => {
  const s = setup();
  await drive(s, 180);
  const opened = await drive(s, 40, stuffing);
  const mine = opened.filter((r) => r.client === ATTACKER);
  assert.equal(mine.length, 1, 'one report per episode');
  const id = mine[0]!.id;
  const stored = (await s.reports.get(id))!;
  assert.equal(stored.status, 'actioned');
  assert.equal(stored.action.kind, 'block');
  assert.equal(stored.action.applied, true);
  assert.ok(stored.detectors.credential_stuffing! >= 0.75);
  assert.match(stored.summary, /credential stuffing/);
  assert.ok(decodeAnomalyReport(encodeAnomalyReport(stored)).ok, 'the report passes the codec');
  const state = await s.plane.read();
  const block = state.blocks.get(ATTACKER)!;
  assert.equal(block.anomalyId, id);
  assert.equal(block.until, stored.action.until);
  assert.match(block.reason, /^anomaly /);
  assert.ok(s.publisher.recent.some((r) => r.id === id && r.status === 'actioned'));
  assert.match(await s.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_anomalies_total'), /detector="credential_stuffing",action="block"\} 1/);
  assert.equal(opened.filter((r) => r.client.startsWith('apiKey:')).length, 0, 'no false alarm on the normal clients');
});

test('no report opens during the warm-up', async () => {
  const s = setup(ACT, 10 * 60_000);
  const opened = await drive(s, 60, stuffing);
  assert.equal(opened.filter((r) => r.client === ATTACKER).length, 0);
});

test('a tighten is written as an override for any rule with the multiplier', async () => {
  const s = setup(`analyzer:\n  actions:\n    - { minScore: 0.5, action: tighten, multiplier: 0.25, ttl: 2m }\n`);
  await drive(s, 180);
  const opened = (await drive(s, 20, stuffing)).filter((r) => r.client === ATTACKER);
  const override = (await s.plane.read()).overrides.get(`*|${ATTACKER}`)!;
  assert.equal(override.multiplier, 0.25);
  assert.equal(override.anomalyId, opened[0]!.id);
});

test('an action ends at its TTL: the control-plane field is deleted and the report expires', async () => {
  const s = setup(`analyzer:\n  actions:\n    - { minScore: 0.5, action: block, ttl: 1m }\n`);
  await drive(s, 180);
  const id = (await drive(s, 20, stuffing)).find((r) => r.client === ATTACKER)!.id;
  assert.ok((await s.plane.read()).blocks.has(ATTACKER));
  await drive(s, 70);
  assert.ok(!(await s.plane.read()).blocks.has(ATTACKER));
  const r = (await s.reports.get(id))!;
  assert.equal(r.status, 'expired');
  assert.ok(r.history.some((h) => h.what === 'expired'));
});

test('allowlisted clients are reported but never blocked', async () => {
  const s = setup(`analyzer:\n  allowlist: ["${ATTACKER}"]\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`);
  await drive(s, 180);
  const r = (await drive(s, 20, stuffing)).find((x) => x.client === ATTACKER)!;
  assert.equal(r.action.kind, 'observe');
  assert.equal(r.status, 'open');
  assert.ok(r.history.some((h) => h.what === 'held_back' && /allowlisted/.test(h.note ?? '')));
  assert.equal((await s.plane.read()).blocks.size, 0);
});

test('with requireApproval the report waits pending and nothing is written', async () => {
  const s = setup(`analyzer:\n  requireApproval: true\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`);
  await drive(s, 180);
  const r = (await drive(s, 20, stuffing)).find((x) => x.client === ATTACKER)!;
  assert.equal(r.status, 'pending');
  assert.equal(r.action.kind, 'block');
  assert.equal(r.action.applied, false);
  assert.equal((await s.plane.read()).blocks.size, 0);
});

test('revoked partitions close their open windows as partial: not scored, not learned', async () => {
  const s = setup();
  s.analyzer.ingest([ev({ ts: T0 + 1_000 })], 3);
  const closed = await s.analyzer.revoke([3]);
  assert.equal(closed, 1);
  assert.match(await s.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_windows_partial_total'), /ratewarden_windows_partial_total 1/);
  assert.equal(s.analyzer.client('apiKey:00000000000000aa')!.windows['10s'], 0);
});

test('the client view exposes baselines, recent windows and the state size', async () => {
  const s = setup();
  await drive(s, 400);
  const view = s.analyzer.client('apiKey:0000000000000000')!;
  assert.ok(view.windows['10s'] > 5);
  assert.equal(view.baseline['10s'].find((b) => b.feature === 'requests')!.source, 'client');
  assert.ok(view.recent['10s'].length > 0);
  // heap bytes (ClientState.heapBytes), measured against the heap in clientStateSize.test.ts
  assert.ok(view.stateBytes > 2_000 && view.stateBytes < 24_000, `state ${view.stateBytes}`);
});

/** A slow brute force from a new key: a failed login every 5 s, from the minute starting at T0 + 3 min. */
const SLOW_START = T0 + 180_000;
const slowLogins = (t: number): CallEvent[] => (t >= SLOW_START && (t - SLOW_START) % 5_000 === 0 ? [ev({ ts: t + 500, client: 'apiKey:00000000000051ee', ip: '198.51.100.7', method: 'POST', route: '/login', status: 401, uaHash: 'ua-slow' })] : []);

test('an early look at the open minute reports sustained failures before the minute closes', async () => {
  const s = setup();
  const r = reportedBeforeClose(await drive(s, 240, slowLogins), 'apiKey:00000000000051ee', 60_000, SLOW_START, 35_000);
  assert.match(r.summary, /ratio_401_403_1m/);
  assert.ok((await counter(s, 'ratewarden_early_looks_total')) >= 1);
  // looks are not closed windows: 4 minutes of 60 s windows for the 20 normal clients and the attacker's one
  const closed60 = await counter(s, 'ratewarden_windows_closed_total', '{window="60s"}');
  assert.ok(closed60 <= 4 * 20 + 1, `60 s windows closed: ${closed60}`);
});

test('without the early look the same failures wait for the minute to close', async () => {
  const s = setup(ACT, 60_000, { earlyLookMs: 0 });
  const mine = (await drive(s, 250, slowLogins)).filter((r) => r.client === 'apiKey:00000000000051ee');
  assert.equal(mine.length, 1, 'reported once the minute closed');
  assert.equal(mine[0]!.window.end, SLOW_START + 60_000);
  assert.ok(mine[0]!.ts >= SLOW_START + 60_000, `first report ${(mine[0]!.ts - SLOW_START) / 1000} s after the first failure`);
  assert.equal(await counter(s, 'ratewarden_early_looks_total'), 0);
});

/** A slower brute force: a failed login every 7 s, so the early look at 20 s holds three and the fourth is in the open window. */
const slowerLogins = (t: number): CallEvent[] => (t >= SLOW_START && (t - SLOW_START) % 7_000 === 0 ? [ev({ ts: t + 500, client: 'apiKey:00000000000051ee', ip: '198.51.100.7', method: 'POST', route: '/login', status: 401, uaHash: 'ua-slow' })] : []);

test('a watched minute reports on the call that completes the evidence, from the open window', async () => {
  const s = setup();
  const opened = (await drive(s, 240, slowerLogins)).filter((r) => r.client === 'apiKey:00000000000051ee');
  assert.equal(opened.length, 1, 'one report for the episode');
  const r = opened[0]!;
  assert.equal(r.window.sizeMs, 60_000);
  assert.equal(r.window.start, SLOW_START);
  // the fourth failure (21.5 s) is in the 10 s window [20 s, 30 s), still open when the report opens
  assert.ok(r.window.end > SLOW_START + 21_500 && r.window.end <= SLOW_START + 30_000, `window up to ${(r.window.end - SLOW_START) / 1000} s`);
  assert.ok(r.ts < SLOW_START + 30_000, `reported ${(r.ts - SLOW_START) / 1000} s after the first failure`);
  assert.match(r.summary, /ratio_401_403_1m/);
});

test('without the watch the same failures wait for the next early look', async () => {
  const s = setup(ACT, 60_000, { earlyWatchScore: 0 });
  const opened = (await drive(s, 240, slowerLogins)).filter((r) => r.client === 'apiKey:00000000000051ee');
  assert.equal(opened.length, 1);
  assert.equal(opened[0]!.window.end, SLOW_START + 30_000, 'the minute up to its third closed 10 s window');
  assert.ok(opened[0]!.ts >= SLOW_START + 32_000, `first report ${(opened[0]!.ts - SLOW_START) / 1000} s after the first failure`);
});

test('a watch looks again only on ticks that brought the client events', async () => {
  // three failures (0.5, 7.5, 14.5 s), then one success at 25.5 s and nothing else in the minute
  const stopped = (t: number): CallEvent[] => {
    if (t === SLOW_START + 25_000) return [ev({ ts: t + 500, client: 'apiKey:00000000000051ee', ip: '198.51.100.7', route: '/api/me', status: 200, uaHash: 'ua-slow' })];
    return t < SLOW_START + 20_000 ? slowerLogins(t) : [];
  };
  const run = async (detection: Partial<DetectionOptions>) => {
    const s = setup(ACT, 60_000, detection);
    const opened = await drive(s, 240, stopped);
    return { looks: await counter(s, 'ratewarden_early_looks_total'), mine: opened.filter((r) => r.client === 'apiKey:00000000000051ee') };
  };
  const watched = await run({});
  const unwatched = await run({ earlyWatchScore: 0 });
  // watched from the early look at 22 s to the minute's close: one look, on the tick after the success, not one per tick
  assert.equal(watched.looks - unwatched.looks, 1);
  assert.deepEqual(watched.mine.map((r) => r.window), unwatched.mine.map((r) => r.window), 'a success adds no evidence: the watch reports nothing the early looks do not');
});

const SHARED = 'apiKey:0000000000000000';
/** Three people the key was handed to, each with their own device and network, 1, 2 and 3 s into the window starting at `start`. */
const sharers = (start: number) => (t: number): CallEvent[] => {
  const i = (t - start) / 1_000;
  return i >= 1 && i <= 3 ? [ev({ ts: t + 100, client: SHARED, ip: `82.${i}.1.1`, uaHash: `sharer-${i}` })] : [];
};

/** Drives until the normal clients have a usual ten-minute IP count (11 minutes), then to the next 10 s window. */
async function established(s: ReturnType<typeof setup>) {
  await drive(s, 11 * 60 + 10 - ((s.now - T0) / 1_000) % 10);
  assert.equal(s.now % 10_000, 0);
  return s.now;
}

/** The key-sharing tests read that rule alone: three sharers are also strangers from new hosts, which the compromised-key rule reports from the second on. */
const KEY_SHARING_ONLY: Partial<DetectionOptions> = { compromisedKey: { minRequests: 1_000, minNewIps: 2 } };

test('key sharing is reported from the open window on the call of the third new device', async () => {
  const s = setup(ACT, 60_000, KEY_SHARING_ONLY);
  const start = await established(s);
  const r = reportedBeforeClose(await drive(s, 30, sharers(start)), SHARED, 10_000, start, 4_000);
  assert.match(r.summary, /key sharing: 3 new devices/);
  assert.ok((await counter(s, 'ratewarden_open_window_looks_total')) >= 3, 'one look per new address');
});

test('without the open-window look the same key sharing waits for its window to close', async () => {
  const s = setup(ACT, 60_000, { ...KEY_SHARING_ONLY, openWindowLook: false });
  const start = await established(s);
  const mine = (await drive(s, 30, sharers(start))).filter((r) => r.client === SHARED);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]!.window.end, start + 10_000);
  assert.ok(mine[0]!.ts >= start + 12_000, `first report ${(mine[0]!.ts - start) / 1000} s after the first sharer`);
});

test('a compromised key is reported from the open window on the second new host its new agent comes from', async () => {
  const s = setup();
  const start = await established(s);
  // one tooling agent the key never sent, from a hosting address at 1 s, again at 2 s, then from a second host at 3 s
  const intruder = (t: number): CallEvent[] => {
    const i = (t - start) / 1_000;
    return i >= 1 && i <= 3 ? [ev({ ts: t + 100, client: SHARED, ip: i < 3 ? '35.1.1.1' : '35.1.1.2', uaHash: 'python-requests' })] : [];
  };
  const r = reportedBeforeClose(await drive(s, 30, intruder), SHARED, 10_000, start, 5_000);
  assert.ok(r.ts >= start + 3_100, 'not on the first host alone: that is what an owner’s new device looks like');
  assert.match(r.summary, /compromised key: 3 requests in the last 10 minutes from 2 new IPs/);
});

const FLOODER = 'ip:203.0.113.50';
/** 60 requests a second from a client never seen before. */
const flood = (t: number): CallEvent[] => Array.from({ length: 60 }, (_, j) => ev({ ts: t + Math.floor((j * 1000) / 60), client: FLOODER, ip: '203.0.113.50', route: `/api/search` }));

test('a flood is reported from its open 10 s window, before the window closes', async () => {
  const s = setup();
  await drive(s, 180);
  assert.equal(await counter(s, 'ratewarden_open_window_looks_total'), 0, 'no window of normal traffic comes near the floor');
  const start = s.now;
  assert.equal(start % 10_000, 0, 'the flood starts with a window');
  // 200 requests (the floor) at 60/s: the 4th second; the closed window would report at 12 s at the earliest
  const r = reportedBeforeClose(await drive(s, 30, flood), FLOODER, 10_000, start, 5_000);
  assert.ok(r.detectors.volumetric! >= 0.75);
  assert.match(r.summary, /volumetric burst: 2\d\d requests in 10s/);
  assert.ok((await counter(s, 'ratewarden_open_window_looks_total')) >= 1);
});

test('without the open-window look the same flood waits for its window to close', async () => {
  const s = setup(ACT, 60_000, { openWindowLook: false });
  await drive(s, 180);
  const start = s.now;
  const mine = (await drive(s, 30, flood)).filter((r) => r.client === FLOODER);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]!.window.end, start + 10_000);
  assert.ok(mine[0]!.ts >= start + 12_000, `first report ${(mine[0]!.ts - start) / 1000} s after the flood began`);
  assert.equal(await counter(s, 'ratewarden_open_window_looks_total'), 0);
});

// ---------------------------------------------------------------- episodes, their reports and their actions

/** A stored report of ATTACKER, as openReport writes one. */
function attackerReport(id: string, at: number, action: AnomalyReport['action'], status: AnomalyReport['status'] = 'actioned'): AnomalyReport {
  return {
    v: 1,
    id,
    ts: at,
    client: ATTACKER,
    tier: 'free',
    window: { start: at - 10_000, end: at, sizeMs: 10_000 },
    score: 0.8,
    detectors: { credential_stuffing: 0.8 },
    explanation: [],
    summary: 'credential stuffing',
    action,
    status,
    history: [{ ts: at, who: 'analyzer', what: 'detected' }],
  };
}

/** ATTACKER held by the analyzer with this episode open (as an earlier decision or a restore leaves it). */
async function holdWithEpisode(s: ReturnType<typeof setup>, episode: Omit<Episode, 'openedAt' | 'maxScore'>, lastAction: DecisionState['lastAction']): Promise<void> {
  s.analyzer.ingest([ev({ ts: s.now, client: ATTACKER, ip: '203.0.113.9' })]);
  s.analyzer.updateDecision(ATTACKER, (d) => ({ ...d, episode: { openedAt: s.now, maxScore: 0.8, ...episode }, lastAction }));
  assert.equal(s.analyzer.client(ATTACKER)!.decision.episode!.reportId, episode.reportId);
}

/** A control plane that runs `before` once, just before the first block is written (a race, made deterministic). */
class RacingPlane extends MemoryControlPlane {
  before: (() => Promise<unknown>) | null = null;
  override async write<K extends ControlKind>(kind: K, field: string, value: Unsequenced<K> | null): Promise<number> {
    const before = this.before;
    if (kind === 'block' && value !== null && before) {
      this.before = null;
      await before();
    }
    return super.write(kind, field, value);
  }
}

test('a report whose tighten ends while the block it escalated to is in force stays actioned, and expires with the block', async () => {
  const s = setup();
  const R = 'escalated';
  const tighten = await s.analyzer.actuator.apply(ATTACKER, { kind: 'tighten', multiplier: 0.2, ttlMs: 60_000 }, s.now, `anomaly ${R}: x`, R);
  const block = await s.analyzer.actuator.apply(ATTACKER, { kind: 'block', ttlMs: 120_000 }, s.now + 10_000, `anomaly ${R}: x`, R);
  await s.reports.create(attackerReport(R, s.now, { kind: 'block', ttlMs: 120_000, until: block.until, applied: true }));
  await holdWithEpisode(s, { reportId: R, lastHot: s.now, action: 'block', applied: true, pending: false, until: block.until }, { kind: 'block', at: s.now });

  s.now = tighten.until + 1;
  await s.analyzer.tick(s.now);
  let state = await s.plane.read();
  assert.ok(!state.overrides.has(`*|${ATTACKER}`), 'the tighten ended');
  assert.equal(state.blocks.get(ATTACKER)?.anomalyId, R, 'the block is still in force');
  assert.equal((await s.reports.get(R))!.status, 'actioned', 'so the report is not expired');
  assert.equal(s.analyzer.client(ATTACKER)!.decision.episode!.applied, true, 'nor has the episode’s action ended');

  s.now = block.until + 1;
  await s.analyzer.tick(s.now);
  state = await s.plane.read();
  assert.ok(!state.blocks.has(ATTACKER));
  assert.equal((await s.reports.get(R))!.status, 'expired');
  assert.notEqual(s.analyzer.client(ATTACKER)!.decision.episode?.applied, true);
});

test('an escalation that loses the race with an operator’s dismissal takes its block back, and the dismissal stands', async () => {
  const plane = new RacingPlane();
  const s = setup(ACT, 60_000, {}, plane);
  await drive(s, 180);
  const R = 'tightened';
  const tighten = await s.analyzer.actuator.apply(ATTACKER, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, s.now, `anomaly ${R}: x`, R);
  await s.reports.create(attackerReport(R, s.now, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000, until: tighten.until, applied: true }));
  await holdWithEpisode(s, { reportId: R, lastHot: s.now, action: 'tighten', applied: true, pending: false, until: tighten.until }, { kind: 'tighten', at: s.now });
  // the operator dismisses the report (through any instance) while the analyzer writes the block
  const backend = new AnalyzerBackend({ reports: s.reports, plane, now: () => s.now });
  plane.before = () => backend.act(R, 'dismiss', 'dana (admin)');

  const opened = await drive(s, 30, stuffing);
  assert.equal(plane.before, null, 'the analyzer escalated to a block');
  const r = (await s.reports.get(R))!;
  assert.equal(r.status, 'dismissed');
  assert.ok(!r.history.some((h) => h.what === 'actioned'), 'the escalation was not recorded over the dismissal');
  const state = await plane.read();
  assert.ok(!state.blocks.has(ATTACKER), 'the block written as the operator dismissed was taken back');
  assert.ok(!state.overrides.has(`*|${ATTACKER}`));
  assert.ok(s.analyzer.client(ATTACKER)!.decision.suppressedUntil > s.now, 'the dismissal’s cool-down holds');
  assert.equal(opened.filter((x) => x.client === ATTACKER).length, 0);
});

test('an escalation whose report is gone applies nothing under it; the next anomalous window opens a new report and acts', async () => {
  const s = setup();
  await drive(s, 180);
  // the episode's report was trimmed by retention (or never stored)
  await holdWithEpisode(s, { reportId: 'trimmed', lastHot: s.now, action: 'tighten', applied: false, pending: false, until: null }, { kind: 'tighten', at: s.now - 3_600_000 });
  const opened = (await drive(s, 30, stuffing)).filter((r) => r.client === ATTACKER);
  const state = await s.plane.read();
  const block = state.blocks.get(ATTACKER)!;
  assert.ok(block, 'the attacker is blocked');
  assert.notEqual(block.anomalyId, 'trimmed');
  assert.equal(opened.length, 1);
  assert.equal(block.anomalyId, opened[0]!.id);
  assert.equal((await s.reports.get(block.anomalyId!))!.status, 'actioned', 'under a report an operator can dismiss');
});

test('a client back after going silent gets a new report, and its old episode’s report records the quiet end', async () => {
  const s = setup();
  await drive(s, 180);
  const R = 'days-ago';
  const then = s.now - 3 * 86_400_000;
  await s.reports.create(attackerReport(R, then, { kind: 'block', ttlMs: 600_000, until: then + 600_000, applied: true }, 'expired'));
  // its block ended long ago; no window of it was scored since
  await holdWithEpisode(s, { reportId: R, lastHot: then, action: 'observe', applied: false, pending: false, until: null }, { kind: 'block', at: then });
  const opened = (await drive(s, 30, stuffing)).filter((r) => r.client === ATTACKER);
  assert.equal(opened.length, 1, 'a new report');
  assert.notEqual(opened[0]!.id, R);
  assert.equal((await s.plane.read()).blocks.get(ATTACKER)?.anomalyId, opened[0]!.id);
  const old = (await s.reports.get(R))!;
  assert.equal(old.status, 'expired');
  assert.equal(old.history.at(-1)!.what, 'quiet');
});

test('a pending action approved through another instance is taken up here, and asked again once it ended', async () => {
  const s = setup(`analyzer:\n  requireApproval: true\n  cooldown: 30s\n  actions:\n    - { minScore: 0.5, action: block, ttl: 1m }\n`);
  await drive(s, 180);
  const r = (await drive(s, 20, stuffing)).find((x) => x.client === ATTACKER)!;
  assert.equal(r.status, 'pending');
  // approved through another instance: its decision never reaches this one's state
  const elsewhere = new AnalyzerBackend({ reports: s.reports, plane: s.plane, now: () => s.now });
  const approvedReport = await elsewhere.act(r.id, 'approve', 'dana (admin)');
  const until = approvedReport.action.until!;
  assert.ok((await s.plane.read()).blocks.has(ATTACKER));

  // the attack goes on: once the pending action's TTL passed, this instance looks at the report again
  await drive(s, 60, stuffing);
  const ep = s.analyzer.client(ATTACKER)!.decision.episode!;
  assert.equal(ep.reportId, r.id);
  assert.ok(ep.applied && !ep.pending, 'the approved block is the episode’s action in force');
  assert.equal(ep.until, until);
  assert.equal((await s.reports.get(r.id))!.status, 'actioned', 'and the report was not sent back to pending');

  // the block ends while the attack goes on: it waits for an approval again
  await drive(s, 90, stuffing);
  assert.ok(!(await s.plane.read()).blocks.has(ATTACKER));
  assert.equal((await s.reports.get(r.id))!.status, 'pending');
});

// ---------------------------------------------------------------- event times out of bounds, finish, failed writes

const YEAR = 365 * 86_400_000;

test('an event time far ahead of the clock is counted as bad and skipped: windows keep closing on time and nothing counts as late', async () => {
  const s = setup();
  await drive(s, 60);
  s.analyzer.ingest([ev({ ts: s.now + YEAR, client: 'ip:6.6.6.6' })]);
  const scored10: number[] = [];
  for (let i = 0; i < 30; i++) {
    s.analyzer.ingest([ev({ ts: s.now })]);
    s.now += 1_000;
    for (const w of (await s.analyzer.tick(s.now)).scored) if (w.client === 'apiKey:00000000000000aa' && w.sizeMs === 10_000) scored10.push(w.end);
  }
  assert.equal(await counter(s, 'ratewarden_events_bad_total'), 1);
  assert.equal(await counter(s, 'ratewarden_events_late_total'), 0, 'the watermark did not jump a year ahead');
  assert.equal(s.analyzer.client('ip:6.6.6.6'), null, 'the event was not admitted');
  assert.ok(scored10.length >= 2, `the client's 10 s windows are still scored one by one (${scored10.length})`);
  assert.ok(scored10.every((end) => end <= s.now), 'each once its end passed');
});

test('a future event time first in the first batch does not hold the warm-up back: the warm-up starts at the first event believed', async () => {
  const s = setup();
  s.analyzer.ingest([ev({ ts: T0 + 30 * 86_400_000, client: 'ip:6.6.6.6' })]);
  await drive(s, 180);
  assert.equal(s.analyzer.warmSince, T0, 'the mark written for the group');
  const opened = (await drive(s, 40, stuffing)).filter((r) => r.client === ATTACKER);
  assert.equal(opened.length, 1, 'the attack after the warm-up is reported');
});

test('a stored warm-up mark ahead of the clock (written by an older version) is ignored: the instance warms up and then reports', async () => {
  const s = setup();
  s.analyzer.restoreGroup({ warmSince: T0 + 30 * 86_400_000, populations: new Map() });
  await drive(s, 180);
  assert.equal(s.analyzer.warmSince, T0);
  assert.equal((await drive(s, 40, stuffing)).filter((r) => r.client === ATTACKER).length, 1);
});

test('an event time of 0 is counted as bad and skipped', async () => {
  const s = setup();
  s.analyzer.ingest([ev({ ts: 0 }), ev({ ts: T0 })]);
  assert.equal(await counter(s, 'ratewarden_events_bad_total'), 1);
  assert.equal(await counter(s, 'ratewarden_events_consumed_total'), 1);
  assert.equal(s.analyzer.warmSince, T0);
});

test('finish closes the last minute too: the 60 s window its last 10 s windows rolled into', async () => {
  const s = setup();
  s.analyzer.ingest([0, 5_000, 15_000, 25_000].map((d) => ev({ ts: T0 + d })));
  s.now = T0 + 26_000;
  const r = await s.analyzer.finish(s.now);
  const spans = r.scored.map((w) => [w.sizeMs, w.start - T0, w.end - T0]);
  assert.deepEqual(spans, [[10_000, 0, 10_000], [10_000, 10_000, 20_000], [10_000, 20_000, 30_000], [60_000, 0, 60_000]]);
  assert.equal(r.scored.at(-1)!.features[0], 4, 'the minute holds all four requests');
  assert.equal((await s.analyzer.tick(s.now + 60_000)).scored.length, 0, 'nothing left over for a later tick');
});

test('a partition whose watermark passes a whole minute in one tick closes that minute in the same tick, after its 10 s windows', async () => {
  const s = setup();
  s.analyzer.ingest([ev({ ts: T0 + 5_000 }), ev({ ts: T0 + 35_000 })]);
  s.analyzer.ingest([ev({ ts: T0 + 75_000, client: 'apiKey:00000000000000bb' })]);
  s.now = T0 + 75_000;
  const r = await s.analyzer.tick(s.now);
  const mine = r.scored.filter((w) => w.client === 'apiKey:00000000000000aa').map((w) => [w.sizeMs, w.end - T0]);
  assert.deepEqual(mine, [[10_000, 10_000], [10_000, 40_000], [60_000, 60_000]]);
});

/** A control plane whose first `failures` block writes fail (Redis away for a moment). */
class FlakyPlane extends MemoryControlPlane {
  constructor(private failures: number) {
    super();
  }
  override async write<K extends ControlKind>(kind: K, field: string, value: Unsequenced<K> | null): Promise<number> {
    if (kind === 'block' && value !== null && this.failures > 0) {
      this.failures--;
      throw new Error('connection lost');
    }
    return super.write(kind, field, value);
  }
}

test('a failed control-plane write is retried on the next anomalous window, not held back by the cool-down', async () => {
  const plane = new FlakyPlane(1);
  const s = setup(ACT, 60_000, {}, plane);
  await drive(s, 180);
  const opened = (await drive(s, 40, stuffing)).filter((r) => r.client === ATTACKER);
  assert.equal(opened.length, 1);
  const block = (await plane.read()).blocks.get(ATTACKER);
  assert.ok(block, 'the attacker is blocked after all');
  assert.equal(block.anomalyId, opened[0]!.id);
  const report = (await s.reports.get(opened[0]!.id))!;
  const steps = report.history.map((h) => h.what);
  assert.ok(steps.indexOf('action_failed') >= 0 && steps.indexOf('action_failed') < steps.lastIndexOf('actioned'), steps.join(', '));
  assert.equal(report.status, 'actioned');
  assert.equal(await counter(s, 'ratewarden_control_write_errors_total'), 1);
});

test('a bytes value whose sum overflows to Infinity leaves the client baseline finite', async () => {
  const s = setup();
  await drive(s, 30);
  // past the decoder's bounds (models/events.ts), as a direct caller could still hand one in
  s.analyzer.ingest([ev({ ts: s.now, bytesIn: 1e308, bytesOut: 1e308 })]);
  await drive(s, 120, (t) => [ev({ ts: t + 500, bytesIn: 100 + (Math.floor(t / 1000) % 7) * 10 })]);
  for (const size of ['10s', '60s'] as const) {
    const bytes = s.analyzer.client('apiKey:00000000000000aa')!.baseline[size].find((b) => b.feature === 'bytes')!;
    assert.ok(Number.isFinite(bytes.centre) && Number.isFinite(bytes.spread), `${size}: centre ${bytes.centre}, spread ${bytes.spread}`);
  }
});

// ---------------------------------------------------------------- no action without a report; allowlist reloads

/** A report store that is down (create throws) while `down` is set; counts the attempts per client. */
class DownReportStore extends MemoryReportStore {
  down = false;
  readonly attempts = new Map<string, number>();
  override async create(report: AnomalyReport): Promise<boolean> {
    this.attempts.set(report.client, (this.attempts.get(report.client) ?? 0) + 1);
    if (this.down) throw new Error('connection lost');
    return super.create(report);
  }
}

test('a report that cannot be stored applies nothing; once the store is back the next anomalous window opens it and acts', async () => {
  const reports = new DownReportStore();
  const s = setup(ACT, 60_000, {}, new MemoryControlPlane(), reports);
  await drive(s, 180);
  reports.down = true;
  await drive(s, 20, stuffing);
  assert.ok((reports.attempts.get(ATTACKER) ?? 0) >= 1, 'the analyzer tried to open a report');
  let state = await s.plane.read();
  assert.ok(!state.blocks.has(ATTACKER), 'no block without a report');
  assert.ok(!state.overrides.has(`*|${ATTACKER}`), 'no override without a report');
  assert.equal(s.publisher.recent.filter((r) => r.client === ATTACKER).length, 0, 'nothing published');
  assert.ok((await counter(s, 'ratewarden_report_store_errors_total')) >= 1);
  assert.equal(s.analyzer.client(ATTACKER)!.decision.episode, null, 'the episode ends with its report');

  reports.down = false;
  await drive(s, 20, stuffing);
  const stored = (await s.reports.list({ client: ATTACKER })).items;
  assert.equal(stored.length, 1);
  const r = stored[0]!;
  assert.equal(r.status, 'actioned');
  assert.equal(r.action.applied, true);
  assert.deepEqual(r.history.slice(0, 2).map((h) => h.what), ['detected', 'actioned']);
  state = await s.plane.read();
  assert.equal(state.blocks.get(ATTACKER)?.anomalyId, r.id, 'blocked under the stored report');
  assert.ok(s.publisher.recent.some((p) => p.id === r.id && p.status === 'actioned'), 'published as actioned');
});

/** A report store whose next `failures` transitions throw (Redis away for a moment). */
class FlakyTransitions extends MemoryReportStore {
  failures = 0;
  override async transition(id: string, change: Parameters<MemoryReportStore['transition']>[1]): ReturnType<MemoryReportStore['transition']> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connection lost');
    }
    return super.transition(id, change);
  }
}

test('an action its new report cannot record is taken back, and applied under that report by the next anomalous window', async () => {
  const reports = new FlakyTransitions();
  const s = setup(ACT, 60_000, {}, new MemoryControlPlane(), reports);
  await drive(s, 180);
  reports.failures = 1;
  let mine: AnomalyReport[] = [];
  for (let i = 0; i < 30 && mine.length === 0; i++) mine = (await drive(s, 1, stuffing)).filter((r) => r.client === ATTACKER);
  assert.equal(mine.length, 1);
  const id = mine[0]!.id;
  assert.equal(reports.failures, 0, 'recording the action failed');
  let stored = (await s.reports.get(id))!;
  assert.equal(stored.status, 'open');
  assert.equal(stored.action.applied, false);
  assert.ok(!(await s.plane.read()).blocks.has(ATTACKER), 'a block its report does not record (a dismissal would not lift it) is taken back');
  assert.equal(s.analyzer.client(ATTACKER)!.decision.episode?.reportId, id, 'the episode goes on under its report');

  await drive(s, 20, stuffing);
  stored = (await s.reports.get(id))!;
  assert.equal(stored.status, 'actioned');
  assert.equal((await s.plane.read()).blocks.get(ATTACKER)?.anomalyId, id);
});

const BLOCK = `analyzer:\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`;

test('a policy reload that allowlists an actioned client lifts its block, records it on the report, and the client is not acted on again', async () => {
  const s = setup(BLOCK);
  await drive(s, 180);
  const r = (await drive(s, 20, stuffing)).find((x) => x.client === ATTACKER)!;
  assert.equal((await s.plane.read()).blocks.get(ATTACKER)?.anomalyId, r.id);

  await s.analyzer.setPolicy(policy(`analyzer:\n  allowlist: ["${ATTACKER}"]\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`));
  let state = await s.plane.read();
  assert.ok(!state.blocks.has(ATTACKER), 'the block is lifted');
  assert.ok(!state.overrides.has(`*|${ATTACKER}`));
  const lifted = (await s.reports.get(r.id))!;
  assert.ok(lifted.history.some((h) => h.what === 'unblocked' && h.note === 'client allowlisted by policy'), lifted.history.map((h) => h.what).join(', '));
  assert.equal(lifted.status, 'expired', 'nothing of it is in force');
  assert.ok(s.publisher.recent.some((p) => p.id === r.id && p.status === 'expired'));
  assert.notEqual(s.analyzer.client(ATTACKER)!.decision.episode?.applied, true, 'the episode has no action in force');

  // the attack goes on: reported, never acted on
  await drive(s, 60, stuffing);
  state = await s.plane.read();
  assert.ok(!state.blocks.has(ATTACKER), 'not blocked again');
  assert.ok(!state.overrides.has(`*|${ATTACKER}`), 'nor tightened');
  assert.equal((await s.reports.get(r.id))!.history.filter((h) => h.what === 'actioned').length, 1);
});

test('a policy reload that allowlists a client by a part of its composite key withdraws its pending action from approval', async () => {
  const client = `apiKey:00000000000000ff|${ATTACKER}`;
  const s = setup(`analyzer:\n  requireApproval: true\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`);
  await drive(s, 180);
  const r = (await drive(s, 20, (t) => stuffing(t).map((e) => ({ ...e, client })))).find((x) => x.client === client)!;
  assert.equal((await s.reports.get(r.id))!.status, 'pending');

  await s.analyzer.setPolicy(policy(`analyzer:\n  requireApproval: true\n  allowlist: ["${ATTACKER}"]\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`));
  const after = (await s.reports.get(r.id))!;
  assert.equal(after.status, 'open', 'it can no longer be approved');
  assert.ok(after.history.some((h) => h.what === 'held_back' && /client allowlisted by policy/.test(h.note ?? '')));
  assert.equal(s.analyzer.client(client)!.decision.episode?.pending, false);
  await assert.rejects(new AnalyzerBackend({ reports: s.reports, plane: s.plane, now: () => s.now }).act(r.id, 'approve', 'dana (admin)'));
  assert.equal((await s.plane.read()).blocks.size, 0);
});
