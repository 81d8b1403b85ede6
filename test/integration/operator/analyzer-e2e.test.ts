/**
 * The operator API on the real analyzer: the Analyzer scores synthetic traffic (a credential-stuffing
 * client among normal ones, event time driven by an injected clock), writes its report to the
 * RedisReportStore and its block to the RedisControlPlane on real Redis; the operator then reviews
 * and dismisses it through the API, and the analyzer respects the dismissal.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { AnomalyReport } from '../../../models/anomaly.js';
import type { CallEvent } from '../../../models/events.js';
import { controlKeys, type ControlKeys } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { operatorBackendFor } from '../../../analyzer/api/index.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ADMIN } from './fixtures.js';

const POLICY = `version: 1
identity: { apiKey: { header: x-api-key } }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 1000, window: 60s }
analyzer:
  cooldown: 10m
  actions:
    - { minScore: 0.9, action: block, ttl: 10m }
`;
const ATTACKER = 'apiKey:00000000000000ff';
const START = Date.UTC(2025, 0, 1, 12);

let now = START;
let redis: Redis;
let keys: ControlKeys;
let prefix: string;
let analyzer: Analyzer;
let app: FastifyInstance;

function event(client: string, ts: number, status = 200, decision: CallEvent['decision'] = 'allowed'): CallEvent {
  return { v: 1, ts, pod: 'p', service: 'demo', method: 'GET', route: '/api/items', status, latencyMs: 5, bytesIn: 100, bytesOut: 1000, ip: '10.0.0.1', client, user: null, uaHash: 'ua1', decision, rule: null, cost: 1 };
}

/** `seconds` of traffic: 20 normal clients at 0.5 req/s; the attacker normal too, or 40 req/s of 401s (403s once the sidecars block it). */
async function traffic(seconds: number, attacker: 'normal' | 'attacking' | 'blocked'): Promise<void> {
  const from = now;
  for (let s = 0; s < seconds; s++) {
    const t = from + s * 1000;
    const batch: CallEvent[] = [];
    for (let c = 0; c < 20; c++) if ((s + c) % 2 === 0) batch.push(event(`apiKey:${String(c).padStart(16, '0')}`, t + c));
    if (attacker === 'attacking') for (let j = 0; j < 40; j++) batch.push(event(ATTACKER, t + j, 401));
    else if (attacker === 'blocked') for (let j = 0; j < 40; j++) batch.push(event(ATTACKER, t + j, 403, 'blocked'));
    else if (s % 2 === 0) batch.push(event(ATTACKER, t));
    now = t + 1000;
    analyzer.ingest(batch);
    if (s % 5 === 4) await analyzer.tick(now);
  }
  for (let i = 0; i < 3; i++) {
    now += 5_000;
    await analyzer.tick(now);
  }
}

async function call(method: 'GET' | 'POST', url: string) {
  const res = await app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}`, 'x-operator': 'erin' } });
  return { status: res.statusCode, body: res.json() };
}

before(async () => {
  redis = await connectRedis();
  keys = controlKeys(uniqueName('rwtest-ope2e'));
  prefix = uniqueName('rwtest-ope2e-reports');
  const parsed = parsePolicy(POLICY);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const plane = new RedisControlPlane(redis, keys);
  const reports = new RedisReportStore(redis, { prefix });
  analyzer = new Analyzer({ policy: parsed.policy, controlPlane: plane, reports, clock: () => now });
  const backend = operatorBackendFor(analyzer, { reports, plane, cooldownMs: () => parsed.policy.analyzer.cooldownMs, now: () => now });
  app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: ADMIN, now: () => now });
  await app.ready();
});

after(async () => {
  await app?.close();
  if (redis) {
    const stale = await redis.keys(`{${prefix}}*`);
    if (stale.length) await redis.del(...stale);
    await redis.del(keys.blocks, keys.overrides, keys.load, keys.seq);
    redis.disconnect();
  }
});

let report: AnomalyReport;

test('the analyzer blocks the attacker and the API lists the actioned report', { timeout: 60_000 }, async () => {
  await traffic(840, 'normal');
  await traffic(60, 'attacking');
  const res = await call('GET', `/api/anomalies?client=${encodeURIComponent(ATTACKER)}`);
  assert.equal(res.status, 200);
  report = res.body.items[0];
  assert.ok(report, 'no report for the attacker');
  assert.equal(report.status, 'actioned');
  assert.equal(report.action.kind, 'block');
  assert.equal(JSON.parse((await redis.hget(keys.blocks, ATTACKER))!).anomalyId, report.id);
});

test("the detail's evidence carries the analyzer's recent request series: the spike, then the sidecars' 403s", async () => {
  await traffic(30, 'blocked');
  const res = await call('GET', `/api/anomalies/${encodeURIComponent(report.id)}`);
  assert.equal(res.status, 200);
  const series = res.body.evidence.series;
  assert.equal(series.feature, 'requests_10s');
  assert.ok(series.ts.length >= 10);
  assert.ok(Math.max(...series.value) >= 300, `max ${Math.max(...series.value)}`);
  assert.equal(res.body.block.anomalyId, report.id);
  // the upstream's 401s are not "limited"; the sidecars' blocked answers are
  assert.equal(series.limited[series.ts.findIndex((t: number) => t > report.ts - 30_000)], 0);
  assert.ok(Math.max(...series.limited) >= 300, `limited ${series.limited}`);
  const client = await call('GET', `/api/clients/${encodeURIComponent(ATTACKER)}`);
  assert.ok(client.body.baseline.features.some((f: { feature: string }) => f.feature === 'requests_10s'));
});

test('dismiss lifts the block and the analyzer does not block the client again during the cool-down', { timeout: 30_000 }, async () => {
  const res = await call('POST', `/api/anomalies/${encodeURIComponent(report.id)}/dismiss`);
  assert.equal(res.status, 200);
  assert.equal(await redis.hget(keys.blocks, ATTACKER), null);
  assert.ok(analyzer.client(ATTACKER)!.decision.suppressedUntil > now);
  await traffic(30, 'attacking');
  assert.equal(await redis.hget(keys.blocks, ATTACKER), null);
});

test("a service-wide report's evidence is the service's own request series", async () => {
  const res = await call('GET', `/api/anomalies?client=${encodeURIComponent('service:demo')}`);
  assert.equal(res.status, 200);
  const id = res.body.items[0]?.id;
  assert.ok(id, 'the burst should also stand out in the service series');
  const detail = await call('GET', `/api/anomalies/${encodeURIComponent(id)}`);
  assert.ok(detail.body.evidence.series.value.length > 0);
  assert.equal(detail.body.evidence.series.mean[0], null);
});
