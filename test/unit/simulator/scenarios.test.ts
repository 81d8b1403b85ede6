import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { SimCall } from '../../../simulator/calls.js';
import { createSimulation, type Simulation } from '../../../simulator/generate.js';
import { uaHash } from '../../../simulator/identities.js';
import { SCENARIO_NAMES, defaultScenarios, type GroundTruthLabel, type ScenarioSpec } from '../../../simulator/scenarios.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

const SCENARIOS: ScenarioSpec[] = [
  { name: 'credential-stuffing', at: '30m', duration: '20m' },
  { name: 'credential-stuffing', at: '60m', duration: '20m', keyed: true, attackers: 8 },
  { name: 'scraping', at: '40m', duration: '30m' },
  { name: 'volumetric-burst', at: '90m', duration: '5m' },
  { name: 'key-sharing', at: '60m', duration: '60m' },
  { name: 'low-and-slow', at: '30m', duration: '3h' },
  { name: 'compromised-key', at: '80m', duration: '60m' },
];

let sim: Simulation;
/** Every call of every client named by a label (attackers and victims), in time order. */
const callsOf = new Map<string, SimCall[]>();
/** Normal clients' call counts. */
const normalCounts = new Map<string, number>();
let normal401 = 0;
let normalTotal = 0;

function label(id: string): GroundTruthLabel {
  const l = sim.labels.find((x) => x.id === id);
  assert.ok(l, `no label ${id}`);
  return l;
}

function calls(client: string): SimCall[] {
  return callsOf.get(client) ?? [];
}

function share(xs: SimCall[], pred: (c: SimCall) => boolean): number {
  return xs.length === 0 ? 0 : xs.filter(pred).length / xs.length;
}

before(() => {
  sim = createSimulation({ seed: 21, duration: '3h', population: { clients: 300, ratePerSec: 20 }, scenarios: SCENARIOS });
  const interesting = new Set(sim.labels.flatMap((l) => l.clients));
  for (const call of sim.calls()) {
    const client = call.event.client;
    if (interesting.has(client)) {
      let list = callsOf.get(client);
      if (!list) callsOf.set(client, (list = []));
      list.push(call);
    }
    if (call.scenario === null) {
      normalTotal++;
      if (call.event.status === 401) normal401++;
      normalCounts.set(client, (normalCounts.get(client) ?? 0) + 1);
    }
  }
});

test('every scenario is labelled with its name, clients, IPs, onset and end', () => {
  assert.deepEqual(
    sim.labels.map((l) => l.id),
    SCENARIOS.map((s, i) => `${s.name}#${i}`),
  );
  const l = label('scraping#2');
  assert.equal(l.scenario, 'scraping');
  assert.equal(l.onsetMs, sim.startMs + 40 * MIN);
  assert.equal(l.endMs, sim.startMs + 70 * MIN);
  // low-and-slow was asked for 3h from 30m: its end is clamped to the simulation's
  assert.equal(label('low-and-slow#5').endMs, sim.endMs);
});

test('every attack call falls inside its label’s window, from its labelled clients and IPs', () => {
  const byLabel = new Map(sim.labels.map((l) => [l.id, 0]));
  for (const list of callsOf.values()) {
    for (const call of list) {
      if (call.scenario === null) continue;
      const l = label(call.scenario);
      byLabel.set(l.id, byLabel.get(l.id)! + 1);
      assert.ok(call.event.ts >= l.onsetMs && call.event.ts < l.endMs, `${l.id} call at ${call.event.ts}`);
      assert.ok(l.clients.includes(call.event.client));
      assert.ok(l.ips.includes(call.event.ip));
    }
  }
  for (const [id, n] of byLabel) assert.ok(n > 20, `${id} produced ${n} calls`);
});

test('credential stuffing: the labelled IPs appear only from onset, with mostly 401s on POST /login', () => {
  const l = label('credential-stuffing#0');
  assert.equal(l.clients.length, 12);
  const all = l.clients.flatMap(calls);
  assert.ok(all.every((c) => c.event.ts >= l.onsetMs));
  assert.ok(share(all, (c) => c.event.status === 401) > 0.85, `401 share ${share(all, (c) => c.event.status === 401)}`);
  assert.ok(share(all, (c) => c.method === 'POST' && c.path === '/login') > 0.9);
  // a few leaked credentials are valid
  assert.ok(all.some((c) => c.path === '/login' && c.event.status === 200));
  // 12 IPs × 1.5/s, on about a third of the time
  const expected = 12 * 1.5 * (20 * 60) * (1 / 3);
  assert.ok(all.length > expected * 0.5 && all.length < expected * 1.6, `${all.length} calls, expected ≈ ${expected}`);
  assert.ok(normal401 / normalTotal < 0.005, `normal 401 share ${normal401 / normalTotal}`);
});

test('credential stuffing through one key: the key’s 401 share is high after onset and it was unseen before', () => {
  const l = label('credential-stuffing#1');
  assert.equal(l.clients.length, 1);
  assert.equal(l.ips.length, 8);
  const all = calls(l.clients[0]!);
  assert.ok(all.length > 100);
  assert.ok(all.every((c) => c.event.ts >= l.onsetMs));
  assert.ok(share(all, (c) => c.event.status === 401) > 0.85);
  assert.ok(new Set(all.map((c) => c.event.ip)).size === 8);
});

test('scraping: one key walks item ids in order at a steady ~3/s, meeting gaps as 404s', () => {
  const l = label('scraping#2');
  const all = calls(l.clients[0]!);
  const items = all.filter((c) => c.path.startsWith('/api/items/'));
  const ids = items.map((c) => Number(c.path.split('/').pop()));
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1);
  const notFound = share(items, (c) => c.event.status === 404);
  assert.ok(notFound > 0.04 && notFound < 0.2, `404 share ${notFound}`);
  const rate = all.length / ((l.endMs - l.onsetMs) / 1000);
  assert.ok(Math.abs(rate - 3) < 0.3, `rate ${rate}/s`);
  // regular, bot-like gaps: coefficient of variation far below a Poisson client's 1
  const gaps = all.slice(1).map((c, i) => c.event.ts - all[i]!.event.ts);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length);
  assert.ok(sd / mean < 0.3, `CV ${sd / mean}`);
});

test('volumetric burst: ~40/s from one key after a ramp-up, far above any normal client', () => {
  const l = label('volumetric-burst#3');
  const all = calls(l.clients[0]!);
  const inWindow = (from: number, to: number) => all.filter((c) => c.event.ts >= l.onsetMs + from && c.event.ts < l.onsetMs + to).length;
  const fullRate = inWindow(60_000, 240_000) / 180;
  assert.ok(Math.abs(fullRate - 40) < 4, `rate ${fullRate}/s`);
  assert.ok(inWindow(0, 5_000) < inWindow(30_000, 35_000) / 2, 'ramps up');
  const busiestNormalPerSec = Math.max(...normalCounts.values()) / (3 * 3600);
  assert.ok(fullRate > 3 * busiestNormalPerSec, `busiest normal client ${busiestNormalPerSec}/s`);
});

test('key sharing: an existing key that used a few IPs shows up from 60 more after onset', () => {
  const l = label('key-sharing#4');
  assert.equal(l.clients.length, 1);
  assert.equal(l.ips.length, 60);
  const all = calls(l.clients[0]!);
  const ipsBefore = new Set(all.filter((c) => c.event.ts < l.onsetMs).map((c) => c.event.ip));
  const ipsDuring = new Set(all.filter((c) => c.event.ts >= l.onsetMs && c.event.ts < l.endMs).map((c) => c.event.ip));
  assert.ok(ipsBefore.size >= 1 && ipsBefore.size <= 10, `${ipsBefore.size} IPs before`);
  assert.ok(ipsDuring.size >= 50, `${ipsDuring.size} IPs during`);
  // the owner keeps calling too
  assert.ok(all.some((c) => c.scenario === null && c.event.ts >= l.onsetMs));
});

test('low-and-slow: steady ~8/min per key in every hour, night or day, yet below the busiest normal clients', () => {
  const l = label('low-and-slow#5');
  assert.equal(l.clients.length, 3);
  const ranked = [...normalCounts.values()].sort((a, b) => b - a);
  const top5 = ranked[Math.floor(ranked.length * 0.05)]!;
  for (const client of l.clients) {
    const all = calls(client);
    for (let h = 0; h < 2; h++) {
      const from = l.onsetMs + h * HOUR;
      const n = all.filter((c) => c.event.ts >= from && c.event.ts < from + HOUR).length;
      assert.ok(Math.abs(n - 480) < 480 * 0.1, `${client} hour ${h}: ${n} calls`);
    }
    assert.ok(all.length < top5, `${all.length} calls vs the 95th percentile's ${top5}`);
  }
  const kinds = l.clients.map((c) => (calls(c).some((x) => x.path === '/login') ? 'logins' : 'enumerate'));
  assert.deepEqual(kinds, ['enumerate', 'logins', 'enumerate']);
});

test('compromised key: the victim’s key from new IPs and a new user agent, with an export-like route mix, while the owner carries on', () => {
  const l = label('compromised-key#6');
  const all = calls(l.clients[0]!);
  const before = all.filter((c) => c.event.ts < l.onsetMs);
  const attack = all.filter((c) => c.scenario === l.id);
  const ownerAfter = all.filter((c) => c.scenario === null && c.event.ts >= l.onsetMs);
  assert.ok(before.length > 10 && attack.length > 50 && ownerAfter.length > 10, `${before.length}/${attack.length}/${ownerAfter.length}`);
  const knownIps = new Set(before.map((c) => c.event.ip));
  assert.ok(attack.every((c) => !knownIps.has(c.event.ip)));
  assert.ok(attack.every((c) => c.event.uaHash !== before[0]!.event.uaHash && c.event.uaHash === uaHash(c.userAgent)));
  const exportLike = (c: SimCall) => c.path.startsWith('/reports') || c.path === '/api/items' || c.path === '/graphql';
  assert.ok(share(attack, exportLike) > 0.9);
  // a normal-ish rate: at most a few times the owner's own
  const ownerRate = before.length / (l.onsetMs - sim.startMs);
  const attackRate = attack.length / (l.endMs - l.onsetMs);
  assert.ok(attackRate < ownerRate * 4 + 5 / MIN, `attack ${attackRate * MIN}/min vs owner ${ownerRate * MIN}/min`);
});

test('default scenarios put all six attacks inside the simulation', () => {
  for (const hours of [1, 24]) {
    const specs = defaultScenarios(hours * HOUR);
    assert.deepEqual(
      specs.map((s) => s.name),
      [...SCENARIO_NAMES].sort((a, b) => specs.findIndex((s) => s.name === a) - specs.findIndex((s) => s.name === b)),
    );
    const s = createSimulation({ seed: 1, duration: hours * HOUR, population: { clients: 50 }, scenarios: specs });
    assert.equal(s.labels.length, 6);
    for (const l of s.labels) assert.ok(l.onsetMs > s.startMs && l.endMs <= s.endMs && l.onsetMs < l.endMs);
  }
});

test('a named victim is honoured and an attack outside the window is left out', () => {
  const base = createSimulation({ seed: 2, duration: '1h', population: { clients: 80 } });
  const victim = base.population.clients.find((c) => c.apiKey !== null)!;
  const s = createSimulation({
    seed: 2,
    duration: '1h',
    population: { clients: 80 },
    scenarios: [
      { name: 'compromised-key', at: '10m', duration: '10m', victim: victim.clientKey },
      { name: 'scraping', at: '2h', duration: '10m' },
    ],
  });
  assert.equal(s.labels.length, 1);
  assert.deepEqual(s.labels[0]!.clients, [victim.clientKey]);
});

test('bad scenario specs are refused with a clear error', () => {
  const make = (spec: ScenarioSpec) => () => createSimulation({ seed: 1, duration: '1h', population: { clients: 20 }, scenarios: [spec] });
  assert.throws(make({ name: 'nope' as never, at: 0, duration: 1 }), /unknown scenario "nope"/);
  assert.throws(make({ name: 'scraping', at: 'soon', duration: '1m' }), /scraping\.at/);
  assert.throws(make({ name: 'scraping', at: '1m', duration: '1m', attackers: 0 }), /attackers/);
  assert.throws(make({ name: 'key-sharing', at: '1m', duration: '1m', victim: 'apiKey:0000000000000000' }), /victim/);
});
