import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeCallEvent, encodeCallEvent, type CallEvent } from '../../../models/events.js';
import { createSimulation, DEFAULT_START_MS, type SimulationOptions } from '../../../simulator/generate.js';
import { defaultScenarios } from '../../../simulator/scenarios.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function digest(events: Iterable<CallEvent>): { count: number; hash: string } {
  const h = createHash('sha256');
  let count = 0;
  for (const e of events) {
    h.update(encodeCallEvent(e));
    count++;
  }
  return { count, hash: h.digest('hex') };
}

const small: SimulationOptions = { seed: 11, duration: '20m', population: { clients: 120 }, scenarios: defaultScenarios(20 * 60_000) };

test('the same seed gives identical events, attacks included', () => {
  const a = digest(createSimulation(small).events());
  const b = digest(createSimulation(small).events());
  assert.ok(a.count > 1000);
  assert.deepEqual(a, b);
});

test('a different seed gives different events', () => {
  assert.notEqual(digest(createSimulation(small).events()).hash, digest(createSimulation({ ...small, seed: 12 }).events()).hash);
});

test('every pass over one simulation yields the same events', () => {
  const sim = createSimulation(small);
  assert.deepEqual(digest(sim.events()), digest(sim.events()));
  assert.deepEqual(sim.labels, createSimulation(small).labels);
});

test('events are time-ordered whole milliseconds inside [start, end)', () => {
  const sim = createSimulation(small);
  let previous = -Infinity;
  for (const e of sim.events()) {
    assert.ok(Number.isInteger(e.ts));
    assert.ok(e.ts >= previous, 'out of order');
    assert.ok(e.ts >= sim.startMs && e.ts < sim.endMs);
    previous = e.ts;
  }
  assert.equal(sim.startMs, DEFAULT_START_MS);
  assert.equal(sim.endMs, DEFAULT_START_MS + 20 * 60_000);
});

test('every event survives the CallEvent codec unchanged', () => {
  for (const e of createSimulation(small).events()) {
    const decoded = decodeCallEvent(encodeCallEvent(e));
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
    assert.deepEqual(decoded.value, e);
  }
});

test('events carry the client key, the tier, and the allowed decision', () => {
  const sim = createSimulation(small);
  const known = new Map(sim.population.clients.map((c) => [c.clientKey, c]));
  for (const e of sim.events()) {
    assert.match(e.client, /^(apiKey:[0-9a-f]{16}|ip:\d+\.\d+\.\d+\.\d+)$/);
    assert.ok(e.tier === 'free' || e.tier === 'pro' || e.tier === 'enterprise');
    assert.equal(e.decision, 'allowed');
    assert.ok(!e.route.includes('?'));
    const client = known.get(e.client);
    if (client && client.apiKey === null) assert.equal(e.ip, client.ips[0]);
  }
});

test('normal traffic is mostly 2xx with some 404s, rare 5xx and very rare 401s', () => {
  const counts = { all: 0, ok: 0, notFound: 0, unauthorized: 0, server: 0 };
  for (const call of createSimulation({ seed: 3, duration: '1h', population: { clients: 300 } }).calls()) {
    const s = call.event.status;
    counts.all++;
    if (s < 300) counts.ok++;
    if (s === 404) counts.notFound++;
    if (s === 401) counts.unauthorized++;
    if (s >= 500) counts.server++;
  }
  const share = (n: number) => n / counts.all;
  assert.ok(share(counts.ok) > 0.95, `2xx ${share(counts.ok)}`);
  assert.ok(share(counts.notFound) > 0.003 && share(counts.notFound) < 0.05, `404 ${share(counts.notFound)}`);
  assert.ok(share(counts.server) > 0.0005 && share(counts.server) < 0.01, `5xx ${share(counts.server)}`);
  assert.ok(share(counts.unauthorized) > 0 && share(counts.unauthorized) < 0.005, `401 ${share(counts.unauthorized)}`);
});

test('injecting attacks leaves the normal traffic exactly as it was', () => {
  const base = { seed: 5, duration: '30m', population: { clients: 100 } } as const;
  const withAttacks = createSimulation({ ...base, scenarios: defaultScenarios(30 * 60_000) });
  const normalOnly = [...withAttacks.calls()].filter((c) => c.scenario === null).map((c) => c.event);
  assert.deepEqual(digest(normalOnly), digest(createSimulation(base).events()));
});

test('the top 1% of clients send a large share of the events', () => {
  const perClient = new Map<string, number>();
  let total = 0;
  for (const e of createSimulation({ seed: 1, duration: '1h', population: { clients: 500 } }).events()) {
    perClient.set(e.client, (perClient.get(e.client) ?? 0) + 1);
    total++;
  }
  const counts = [...perClient.values()].sort((a, b) => b - a);
  const top = counts.slice(0, 5).reduce((a, b) => a + b, 0);
  assert.ok(top / total > 0.15, `top 1% send ${top / total}`);
});

test('traffic has a daily shape: each client is busiest around its local peak hour, and so is the total', () => {
  const hourly = new Array(24).fill(0);
  const aligned = new Array(24).fill(0);
  // a Tuesday, so no weekend falls inside the day in any time zone
  const sim = createSimulation({ seed: 2, startMs: DEFAULT_START_MS + DAY, duration: '1d', population: { clients: 300, ratePerSec: 3 } });
  const clients = new Map(sim.population.clients.map((c) => [c.clientKey, c]));
  for (const e of sim.events()) {
    hourly[Math.floor((e.ts - sim.startMs) / HOUR)]++;
    const p = clients.get(e.client)!.pattern;
    const localHour = ((e.ts + p.tzOffsetHours * HOUR) % DAY) / HOUR;
    aligned[Math.floor((((localHour - p.peakHour + 12) % 24) + 24) % 24)]++;
  }
  // hours from the client's own peak: the 12th bucket holds the peak, the ends hold its night
  const peak = aligned[11] + aligned[12];
  const night = aligned[0] + aligned[23];
  assert.ok(peak / night > 3, `by hours from the local peak: ${aligned.join(',')}`);
  assert.ok(Math.max(...hourly) / Math.min(...hourly) > 1.5, `hourly totals ${hourly.join(',')}`);
});

test('business clients are quieter at the weekend', () => {
  const sim = createSimulation({ seed: 3, duration: '7d', population: { clients: 200, ratePerSec: 0.5 } });
  const kindOf = new Map(sim.population.clients.map((c) => [c.clientKey, c]));
  let weekday = 0;
  let weekend = 0;
  for (const e of sim.events()) {
    const c = kindOf.get(e.client)!;
    if (c.kind !== 'analytics' && c.kind !== 'integration') continue;
    const local = e.ts + c.pattern.tzOffsetHours * HOUR;
    const dow = (Math.floor(local / DAY) + 4) % 7;
    if (dow === 0 || dow === 6) weekend++;
    else weekday++;
  }
  // per day, weekends should carry clearly less than weekdays
  assert.ok(weekend / 2 < 0.85 * (weekday / 5), `weekday/day ${weekday / 5}, weekend/day ${weekend / 2}`);
});

test('an endless simulation is generated lazily', () => {
  const sim = createSimulation({ seed: 4, startMs: 1_700_000_000_000, duration: Infinity, population: { clients: 50 }, scenarios: [{ name: 'scraping', at: '1m', duration: '1h' }] });
  assert.equal(sim.endMs, Infinity);
  let n = 0;
  for (const e of sim.events()) {
    assert.ok(e.ts >= 1_700_000_000_000);
    if (++n === 5000) break;
  }
  assert.equal(n, 5000);
});

test('normalTraffic: false simulates the attacks alone', () => {
  const sim = createSimulation({ seed: 6, duration: '10m', population: { clients: 50 }, scenarios: defaultScenarios(10 * 60_000), normalTraffic: false });
  const calls = [...sim.calls()];
  assert.ok(calls.length > 100);
  assert.ok(calls.every((c) => c.scenario !== null));
});

test('an owner adds a device partway through: its own user agent and address, in sessions, and the rest of the traffic unchanged', () => {
  const opts = { seed: 5, duration: '3h', population: { clients: 150, patterns: false } } satisfies SimulationOptions;
  const sim = createSimulation(opts);
  const keyed = sim.population.clients.filter((c) => c.apiKey !== null && (c.kind === 'web' || c.kind === 'mobile'));
  const withDevice = keyed.filter((c) => c.laterDevice);
  assert.ok(withDevice.length >= keyed.length * 0.15 && withDevice.length <= keyed.length * 0.55, `${withDevice.length} of ${keyed.length}`);
  assert.ok(sim.population.clients.every((c) => !c.laterDevice || (c.apiKey !== null && (c.kind === 'web' || c.kind === 'mobile'))), 'only keyed web and mobile clients');
  const busiest = [...withDevice].sort((a, b) => b.meanRatePerMin - a.meanRatePerMin)[0]!;
  const d = busiest.laterDevice!;
  assert.notEqual(d.userAgent, busiest.userAgent);
  assert.ok(!busiest.ips.includes(d.ip));
  const from = sim.startMs + d.startFraction * (sim.endMs - sim.startMs);
  let before = 0;
  let onDevice = 0;
  let after = 0;
  let switches = 0;
  let last: string | null = null;
  const counts = new Map<string, number>();
  for (const e of sim.events()) {
    counts.set(e.client, (counts.get(e.client) ?? 0) + 1);
    if (e.client !== busiest.clientKey) continue;
    const device = e.ip === d.ip;
    if (device) assert.equal(e.uaHash, d.uaHash, 'the device sends its own user agent');
    else assert.equal(e.uaHash, busiest.uaHash);
    if (e.ts < from) {
      before++;
      assert.equal(device, false, 'nothing from the device before it exists');
      continue;
    }
    after++;
    if (device) onDevice++;
    if (last !== null && last !== e.uaHash) switches++;
    last = e.uaHash;
  }
  assert.ok(before > 0 && onDevice > 0, `before ${before}, on the device ${onDevice} of ${after}`);
  // sessions, not call by call: far fewer switches than calls on the device
  assert.ok(switches < onDevice / 3, `${switches} switches for ${onDevice} calls on the device`);
  // the device's draws have their own stream: without devices every client sends as many calls
  const without = createSimulation({ ...opts, population: { ...opts.population, laterDeviceShare: 0 } });
  assert.ok(without.population.clients.every((c) => !c.laterDevice));
  const plain = new Map<string, number>();
  for (const e of without.events()) plain.set(e.client, (plain.get(e.client) ?? 0) + 1);
  assert.deepEqual(counts, plain);
});
