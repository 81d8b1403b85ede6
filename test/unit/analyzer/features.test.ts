import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, FEATURE_COUNT, FEATURE_NAMES, FeatureContext, WindowAccumulator, featureLabel, featuresOf, windowStart } from '../../../models/features.js';
import { DISTINCT_EXACT_CAP, DistinctCounter, RouteMemory, hashString } from '../../../models/featureSketches.js';
import { T0, ev } from './helpers.js';

function windowOf(events: ReturnType<typeof ev>[], ctx = new FeatureContext(), history = true): Float64Array {
  const acc = new WindowAccumulator(windowStart(events[0]!.ts, 10_000), 10_000, history);
  for (const e of events) acc.add(e, ctx);
  return acc.vector();
}

test('the feature list is defined once with a name per vector position', () => {
  assert.equal(FEATURE_NAMES.length, FEATURE_COUNT);
  assert.equal(FEATURE_NAMES[F.ratio401403], 'ratio_401_403');
  assert.equal(FEATURE_NAMES[F.sequentialIdShare], 'sequential_id_share');
  assert.equal(featureLabel(F.requests, 10_000), 'requests_10s');
  assert.equal(featureLabel(F.requests, 60_000), 'requests_1m');
});

test('a window counts requests, cost, bytes, mean latency and the status and decision ratios', () => {
  const v = windowOf([
    ev({ status: 200, cost: 2, latencyMs: 10, bytesIn: 10, bytesOut: 90 }),
    ev({ status: 401, latencyMs: 20 }),
    ev({ status: 403, latencyMs: 30 }),
    ev({ status: 404 }),
    ev({ status: 429, decision: 'limited' }),
    ev({ status: 503 }),
    ev({ status: 200, decision: 'shadow_limited' }),
    ev({ status: 403, decision: 'blocked' }),
  ]);
  assert.equal(v[F.requests], 8);
  assert.equal(v[F.cost], 9);
  // 401, 403, 404, 403 — 429 is counted as limited, not as a client error
  assert.equal(v[F.ratio4xx], 4 / 8);
  assert.equal(v[F.ratio401403], 3 / 8);
  assert.equal(v[F.ratio5xx], 1 / 8);
  assert.equal(v[F.ratioLimited], 3 / 8);
  assert.equal(v[F.bytes], 100 + 7 * 1000);
});

test('distinct routes and IPs are exact up to the cap and approximate within the stated bound beyond it', () => {
  const small = new DistinctCounter();
  for (let i = 0; i < DISTINCT_EXACT_CAP; i++) small.add(hashString(`/r/${i}`));
  small.add(hashString('/r/0'));
  assert.equal(small.count(), DISTINCT_EXACT_CAP);
  assert.ok(small.isExact);
  const big = new DistinctCounter();
  for (let i = 0; i < 5_000; i++) big.add(hashString(`10.${i >> 8}.${i & 255}.1`));
  assert.ok(!big.isExact);
  // HyperLogLog with 256 registers: σ ≈ 6.5 %; 3σ ≈ 20 %
  assert.ok(Math.abs(big.count() - 5_000) / 5_000 < 0.2, `estimate ${big.count()}`);
  assert.ok(big.bytes <= 256 + 128);
});

test('merging two counters counts the union once', () => {
  const a = new DistinctCounter();
  const b = new DistinctCounter();
  for (let i = 0; i < 20; i++) a.add(hashString(`x${i}`));
  for (let i = 10; i < 30; i++) b.add(hashString(`x${i}`));
  a.merge(b);
  assert.equal(a.count(), 30);
});

test('regular arrivals have an inter-arrival coefficient of variation near zero, bursts a high one', () => {
  const regular = windowOf(Array.from({ length: 10 }, (_, i) => ev({ ts: T0 + i * 500 })));
  assert.ok(regular[F.interarrivalCv]! < 0.01);
  const bursty = windowOf([0, 10, 20, 30, 5000, 5010, 5020, 9000].map((d) => ev({ ts: T0 + d })));
  assert.ok(bursty[F.interarrivalCv]! > 1);
  assert.ok(Number.isNaN(windowOf([ev(), ev({ ts: T0 + 100 })])[F.interarrivalCv]!), 'two requests say nothing about regularity');
});

test('user-agent changes count switches between consecutive requests', () => {
  const v = windowOf(['a', 'a', 'b', 'a', 'a', 'c'].map((ua, i) => ev({ ts: T0 + i, uaHash: ua })));
  assert.equal(v[F.uaChanges], 3);
});

test('the never-seen-route share is undefined in a first window and counts first requests to a route after', () => {
  const ctx = new FeatureContext();
  const first = windowOf([ev({ route: '/a' }), ev({ route: '/b' })], ctx, false);
  assert.ok(Number.isNaN(first[F.newRouteShare]!));
  const second = windowOf([ev({ ts: T0 + 10_000, route: '/a' }), ev({ ts: T0 + 10_001, route: '/c' }), ev({ ts: T0 + 10_002, route: '/c' }), ev({ ts: T0 + 10_003, route: '/b' })], ctx, true);
  assert.equal(second[F.newRouteShare], 1 / 4);
});

test('the route memory forgets old routes only after a generation rotates', () => {
  const m = new RouteMemory();
  assert.equal(m.seenOrAdd(hashString('/old')), false);
  assert.equal(m.seenOrAdd(hashString('/old')), true);
  for (let i = 0; i < 400; i++) m.seenOrAdd(hashString(`/n/${i}`));
  assert.equal(m.seenOrAdd(hashString('/old')), false, 'recalled beyond two generations');
  assert.equal(m.bytes, 512);
});

test('walking numeric ids in order shows as a sequential-id share; random ids do not', () => {
  const walk = windowOf(Array.from({ length: 20 }, (_, i) => ev({ ts: T0 + i, route: `/api/items/${100 + i}` })));
  assert.equal(walk[F.sequentialIdShare], 19 / 20);
  const random = windowOf([17, 4022, 9, 311, 2500, 77, 1200, 64].map((id, i) => ev({ ts: T0 + i, route: `/api/items/${id}` })));
  assert.equal(random[F.sequentialIdShare], 0);
});

test('rolling six 10 s windows into a minute gives the same counts as a 60 s window', () => {
  const events = Array.from({ length: 120 }, (_, i) => ev({ ts: T0 + i * 500, route: `/r/${i % 7}`, status: i % 10 === 0 ? 401 : 200, ip: `10.0.0.${i % 3}` }));
  const direct = featuresOf(events, 60_000)[0]!.vector;
  const ctx = new FeatureContext();
  const minute = new WindowAccumulator(T0, 60_000, false);
  for (let w = 0; w < 6; w++) {
    const acc = new WindowAccumulator(T0 + w * 10_000, 10_000, ctx.hasHistory);
    for (const e of events.filter((e) => windowStart(e.ts, 10_000) === acc.start)) acc.add(e, ctx);
    minute.merge(acc);
  }
  const rolled = minute.vector();
  for (const i of [F.requests, F.cost, F.ratio401403, F.distinctRoutes, F.distinctIps, F.bytes, F.latencyMs, F.uaChanges]) assert.equal(rolled[i], direct[i], FEATURE_NAMES[i]);
  assert.ok(Math.abs(rolled[F.interarrivalCv]! - direct[F.interarrivalCv]!) < 1e-9);
});
