import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiKeyId } from '../../../models/clientKey.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { byRate, createPopulation, policyClients, rateMultiplier, type Population } from '../../../simulator/population.js';

const DAY = 86_400_000;

function shareOfTop(pop: Population, fraction: number): number {
  const sorted = byRate(pop);
  const total = sorted.reduce((s, c) => s + c.meanRatePerMin, 0);
  const top = sorted.slice(0, Math.max(1, Math.round(sorted.length * fraction)));
  return top.reduce((s, c) => s + c.meanRatePerMin, 0) / total;
}

test('the same seed gives the same population and another seed a different one', () => {
  const strip = (p: Population) => p.clients.map((c) => [c.clientKey, c.apiKey, c.tier, c.kind, c.ips, c.meanRatePerMin, c.pattern, c.userAgent]);
  assert.deepEqual(strip(createPopulation({ seed: 9, clients: 200 })), strip(createPopulation({ seed: 9, clients: 200 })));
  assert.notDeepEqual(strip(createPopulation({ seed: 9, clients: 200 })), strip(createPopulation({ seed: 10, clients: 200 })));
});

test('the top 1% of clients carry a large share of the traffic (heavy tail)', () => {
  for (const seed of [1, 2, 3]) {
    const share = shareOfTop(createPopulation({ seed, clients: 1000 }), 0.01);
    assert.ok(share > 0.15, `top 1% carry ${share} with seed ${seed}`);
  }
});

test('tiers follow the configured mix and anonymous clients are free', () => {
  const pop = createPopulation({ seed: 1, clients: 2000 });
  const keyed = pop.clients.filter((c) => c.apiKey !== null);
  const share = (tier: string) => keyed.filter((c) => c.tier === tier).length / keyed.length;
  assert.ok(Math.abs(share('free') - 0.65) < 0.04);
  assert.ok(Math.abs(share('pro') - 0.28) < 0.04);
  assert.ok(Math.abs(share('enterprise') - 0.07) < 0.02);
  const anonymous = pop.clients.filter((c) => c.apiKey === null);
  assert.ok(Math.abs(anonymous.length / 2000 - 0.15) < 0.03);
  assert.ok(anonymous.every((c) => c.tier === 'free'));
});

test('keyed clients are named by the id of their key and anonymous ones by their single IP', () => {
  const pop = createPopulation({ seed: 2, clients: 300, hashKey: 'k' });
  for (const c of pop.clients) {
    if (c.apiKey === null) {
      assert.equal(c.ips.length, 1);
      assert.equal(c.clientKey, `ip:${c.ips[0]}`);
    } else {
      assert.equal(c.keyId, apiKeyId(c.apiKey, 'k'));
      assert.equal(c.clientKey, `apiKey:${c.keyId}`);
      assert.ok(c.ips.length >= 1 && c.ips.length <= 10);
    }
  }
});

test('no two clients share an IP address', () => {
  const pop = createPopulation({ seed: 3, clients: 1000 });
  const all = pop.clients.flatMap((c) => c.ips);
  assert.equal(new Set(all).size, all.length);
});

test('ratePerSec scales the population to that weekly-mean total', () => {
  const pop = createPopulation({ seed: 4, clients: 100, ratePerSec: 50 });
  assert.ok(Math.abs(pop.meanRatePerSec - 50) < 1e-9);
});

test('a client’s rate pattern averages to one over a week and peaks near its local peak hour', () => {
  const pop = createPopulation({ seed: 5, clients: 50 });
  const start = Date.UTC(2024, 0, 1);
  for (const c of pop.clients.slice(0, 20)) {
    let sum = 0;
    const steps = 7 * 24 * 12;
    for (let i = 0; i < steps; i++) sum += rateMultiplier(c.pattern, start + (i + 0.5) * 300_000);
    assert.ok(Math.abs(sum / steps - 1) < 0.01, `weekly mean ${sum / steps}`);
    // on a weekday (Wednesday), the local peak hour beats the hour twelve hours away
    const wednesday = start + 2 * DAY;
    const peakUtcHour = c.pattern.peakHour - c.pattern.tzOffsetHours;
    const at = (h: number) => rateMultiplier(c.pattern, wednesday + (((h % 24) + 24) % 24) * 3_600_000);
    if (c.pattern.concentration > 0.1) assert.ok(at(peakUtcHour) > at(peakUtcHour + 12));
  }
});

test('patterns: false gives flat rates', () => {
  const pop = createPopulation({ seed: 6, clients: 20, patterns: false });
  for (const c of pop.clients) for (const h of [0, 5, 13, 100, 150]) assert.equal(rateMultiplier(c.pattern, Date.UTC(2024, 0, 1) + h * 3_600_000), 1);
  assert.ok(pop.clients.every((c) => c.pattern.noiseSigma === 0));
});

test('policyClients assigns every keyed client its tier by key id, accepted by the policy parser', () => {
  const pop = createPopulation({ seed: 7, clients: 60 });
  const clients = policyClients(pop);
  const keyed = pop.clients.filter((c) => c.keyId !== null);
  assert.equal(Object.keys(clients).length, keyed.length);
  for (const c of keyed) assert.deepEqual(clients[`apiKeyId:${c.keyId}`], { tier: c.tier });
  assert.ok(!JSON.stringify(clients).includes('sk_'), 'no raw key in the policy section');
  const doc = { version: 1, identity: { apiKey: { header: 'x-api-key' } }, tiers: { free: {}, pro: { multiplier: 10 }, enterprise: { multiplier: 100 } }, clients, rules: [{ id: 'r', key: ['apiKey'], algorithm: 'fixed-window', limit: 10, window: '1s' }] };
  const parsed = parsePolicy(JSON.stringify(doc));
  assert.ok(parsed.ok, JSON.stringify(parsed));
});
