/**
 * From part rows to results.json's `cases` and `engine`: stable names across repetitions, every
 * expected peer present (missing ones say why), and ratios against peers of the same run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyEngineCase, engineCases, FIXED_RATE_DIRECT, FIXED_RATE_FLOOR, FIXED_RATE_RW, FLOOR_PROXY, HTTP_CASES, httpCases, stableHttpRow } from '../../../bench/report/cases.js';
import { mainRows } from '../../../bench/report/summary.js';
import { emptyResults } from '../../../bench/report/shape.js';

const row = (name: string, rps: number, p50 = 1, p99 = 5) => ({ name, rps, p50_ms: p50, p99_ms: p99 });

describe('HTTP cases', () => {
  const rows = [
    row('upstream direct', 40_000),
    row('@fastify/http-proxy (no limiter)', 10_000),
    row('ratewarden (Redis + Kafka events)', 9_000),
    row('@fastify/http-proxy + @fastify/rate-limit (Redis)', 6_000),
    stableHttpRow(row('upstream direct @ 4500 req/s', 4_500, 0.3, 1.1)),
    stableHttpRow({ ...row('ratewarden (Redis + Kafka) @ 4500 req/s', 4_500, 0.9, 3.6), note: 'added p99 2.5 ms' }),
  ];
  const missing = (name: string) => ({ status: name.startsWith('nginx') ? ('not installed' as const) : ('failed' as const), note: `no ${name}` });
  const cases = httpCases(rows, missing);
  const byName = new Map(cases.map((c) => [c.name, c]));

  it('gives the fixed-rate rows stable names whatever rate the repetition chose, keeping the rate', () => {
    const r = stableHttpRow(row('upstream direct @ 4321 req/s', 4321));
    assert.equal(r.name, FIXED_RATE_DIRECT);
    assert.equal(r.offered_rps, 4321);
    assert.equal(stableHttpRow(row('ratewarden (memory store)', 1)).name, 'ratewarden (memory store)');
  });

  it('lists every expected case, a missing peer as a row saying why instead of dropping it', () => {
    for (const name of HTTP_CASES) assert.ok(byName.has(name), name);
    const nginx = byName.get('nginx limit_req')!;
    assert.equal(nginx.status, 'not installed');
    assert.equal(nginx.rps, null);
    assert.equal(nginx.note, 'no nginx limit_req');
    assert.equal(byName.get('ratewarden (memory store)')!.status, 'failed');
  });

  it('computes ratios against the peers measured in the same run, null for a peer without a figure', () => {
    const rw = byName.get('ratewarden (Redis + Kafka events)')!;
    assert.equal(rw.ratio_vs.http_proxy, 0.9);
    assert.equal(rw.ratio_vs.fastify_rate_limit, 1.5);
    assert.equal(rw.ratio_vs.upstream, 0.23);
    assert.equal(rw.ratio_vs.nginx, null);
  });

  it('takes the median of the per-repetition ratios when both cases ran in every repetition', () => {
    // a noisy spell slowed the peer in repetition 1 and ratewarden in repetition 3: each ratio of
    // medians would mix them (9,000 / 6,000 = 1.5), the paired ratios are 2.0, 1.25, 1.0
    const paired = httpCases(
      [
        { ...row('ratewarden (Redis + Kafka events)', 9_000), reps: [9_000, 10_000, 6_000] },
        { ...row('@fastify/http-proxy + @fastify/rate-limit (Redis)', 6_000), reps: [4_500, 8_000, 6_000] },
        { ...row('@fastify/http-proxy (no limiter)', 10_000), reps: [10_000, 11_000] },
      ],
      missing,
    );
    const rw = paired.find((c) => c.name === 'ratewarden (Redis + Kafka events)')!;
    assert.equal(rw.ratio_vs.fastify_rate_limit, 1.25);
    assert.equal(rw.ratio_vs.http_proxy, 0.9, 'a peer missing from a repetition: ratio of the medians');
  });

  it('gives a peer no ratio against itself', () => {
    assert.equal('http_proxy' in byName.get('@fastify/http-proxy (no limiter)')!.ratio_vs, false);
  });

  it('states the p99 ratewarden adds over the upstream at the same fixed rate', () => {
    const fixed = byName.get(FIXED_RATE_RW)! as unknown as { added_p99_ms: number; ratio_vs: object };
    assert.equal(fixed.added_p99_ms, 2.5);
    assert.deepEqual(fixed.ratio_vs, {});
  });

  it('pairs every "X @ half of its max" row with its own upstream row, with no throughput ratios', () => {
    const out = httpCases(
      [
        { name: '@fastify/http-proxy (no limiter)', rps: 10_000, p50_ms: 5, p99_ms: 8 },
        { name: 'upstream direct @ half of ratewarden (memory store) max', rps: 6_000, p50_ms: 0.2, p99_ms: 1.5 },
        { name: 'ratewarden (memory store) @ half of its max', rps: 6_000, p50_ms: 0.5, p99_ms: 2.25 },
      ],
      () => ({ status: 'skipped', note: 'not in this test' }),
    );
    const mem = out.find((c) => c.name === 'ratewarden (memory store) @ half of its max')! as unknown as { added_p99_ms: number; ratio_vs: object };
    assert.equal(mem.added_p99_ms, 0.75);
    assert.deepEqual(mem.ratio_vs, {});
    assert.deepEqual(out.find((c) => c.name === 'upstream direct @ half of ratewarden (memory store) max')!.ratio_vs, {});
  });

  it('measures the floor proxy beside each fixed-rate case: a stable name, its own added p99, and a plain row with ratios', () => {
    const floorAt = stableHttpRow({ ...row('bare undici proxy @ 4500 req/s', 4_500, 0.5, 3.1), note: 'per run' });
    assert.equal(floorAt.name, FIXED_RATE_FLOOR);
    assert.equal(floorAt.offered_rps, 4500);
    assert.equal('note' in floorAt, false, 'per-repetition notes name one repetition: dropped with the rate');
    const out = httpCases(
      [
        row('@fastify/http-proxy (no limiter)', 10_000),
        row(FLOOR_PROXY, 15_000),
        stableHttpRow(row('upstream direct @ 4500 req/s', 4_500, 0.3, 1.1)),
        floorAt,
        Object.assign(stableHttpRow(row('ratewarden (Redis + Kafka) @ 4500 req/s', 4_500, 0.9, 3.6)), { core_busy: 0.8 }),
        row('upstream direct @ half of ratewarden (memory store) max', 6_000, 0.2, 1.5),
        row('bare undici proxy @ half of ratewarden (memory store) max', 6_000, 0.4, 2),
      ],
      () => ({ status: 'skipped', note: 'not in this test' }),
    );
    const get = (name: string) => out.find((c) => c.name === name)! as unknown as { added_p99_ms?: number; ratio_vs: Record<string, number>; core_busy?: number };
    assert.equal(get(FIXED_RATE_FLOOR).added_p99_ms, 2);
    assert.equal(get('bare undici proxy @ half of ratewarden (memory store) max').added_p99_ms, 0.5);
    assert.deepEqual(get(FIXED_RATE_FLOOR).ratio_vs, {});
    assert.equal(get(FLOOR_PROXY).ratio_vs.http_proxy, 1.5, 'the floor\'s throughput row is an ordinary case with ratios');
    // the summary line of a fixed-rate row says how busy the core was, when measured
    const results = emptyResults({ cores: 2, cpu: 'cpu', memory_gb: 8, node: 'v20', redis: '7', kafka: '4', os: 'Linux', date: '2026-01-02T03:04:05.000Z', load_start: 1, load_end: 1 });
    results.cases = out;
    const summary = mainRows(results).filter((r) => r[0] === 'sidecar');
    const rwLine = summary.find((r) => r[1] === FIXED_RATE_RW)!;
    assert.match(rwLine[5]!, /adds 2\.5\d* ms p99 over the upstream; its core \(with the upstream's\) 80% busy/);
    assert.equal(summary.find((r) => r[1] === FIXED_RATE_FLOOR)![5], 'adds 2.000 ms p99 over the upstream', 'no busy share where none was measured');
  });
});

describe('engine cases', () => {
  it('classifies each case by implementation, store and rule count', () => {
    assert.deepEqual(classifyEngineCase('ratewarden memory store, 5 rules'), { implementation: 'ratewarden', store: 'memory', rules: 5 });
    assert.deepEqual(classifyEngineCase('ratewarden Redis store, 1 rule'), { implementation: 'ratewarden', store: 'redis', rules: 1 });
    assert.equal(classifyEngineCase('rate-limiter-flexible RateLimiterRedis (auto-pipelining)').implementation, 'rate-limiter-flexible');
    assert.equal(classifyEngineCase('redis-benchmark EVALSHA token-bucket script, unpipelined (50 clients)').implementation, 'redis-benchmark');
    assert.equal(classifyEngineCase('token bucket 20000/s (200000 per 10 s), 8 engines competing, scope global-leased').scope, 'global-leased');
  });

  it('rates the one-rule Redis store against the best rate-limiter-flexible run and the unpipelined EVALSHA ceiling', () => {
    const out = engineCases([
      { name: 'ratewarden memory store, 1 rule', decisionsPerSec: 2_000_000, p50_ms: 0.001, p99_ms: 0.002 },
      { name: 'ratewarden Redis store, 1 rule', decisionsPerSec: 300_000, p50_ms: 0.8, p99_ms: 2 },
      { name: 'ratewarden Redis store, 5 rules', decisionsPerSec: 70_000, p50_ms: 3, p99_ms: 8 },
      { name: 'token bucket 20000/s (200000 per 10 s), 8 engines competing, scope shared', decisionsPerSec: 50_000, p50_ms: 4, p99_ms: 20 },
      { name: 'rate-limiter-flexible RateLimiterRedis (ioredis defaults)', decisionsPerSec: 60_000, p50_ms: 4, p99_ms: 9 },
      { name: 'rate-limiter-flexible RateLimiterRedis (auto-pipelining)', decisionsPerSec: 100_000, p50_ms: 2, p99_ms: 5 },
      { name: 'redis-benchmark EVALSHA token-bucket script, unpipelined (50 clients)', decisionsPerSec: 150_000, p50_ms: 0.3, p99_ms: 0.6 },
      { name: 'redis-benchmark EVALSHA token-bucket script, 16 pipelined (50 clients)', decisionsPerSec: 400_000, p50_ms: 1, p99_ms: 2 },
    ]);
    const redis = out.find((e) => e.name === 'ratewarden Redis store, 1 rule')!;
    assert.equal(redis.decisions_per_s, 300_000);
    assert.deepEqual(redis.ratio_vs, { rate_limiter_flexible: 3, redis_benchmark_evalsha: 2 });
    assert.deepEqual(out.find((e) => e.store === 'memory')!.ratio_vs, {});
    assert.deepEqual(out.find((e) => e.rules === 5 && e.store === 'redis')!.ratio_vs, {}, 'five rules have no like-for-like peer');
    assert.deepEqual(out.find((e) => e.name.startsWith('token bucket'))!.ratio_vs, {}, 'nor does one key shared by eight engines');
    assert.deepEqual(out.find((e) => e.implementation === 'rate-limiter-flexible')!.ratio_vs, {});
  });

  it('with repetitions, the ratio is the median of per-repetition ratios against that repetition\'s better rate-limiter-flexible run', () => {
    // per repetition: 208/100, 193/100, 200/101.5 → 2.08, 1.93, 1.97, median 1.97; the medians would give 200/101 = 1.98
    const out = engineCases([
      { name: 'ratewarden Redis store, 1 rule', decisionsPerSec: 200, p50_ms: 1, p99_ms: 2, reps: [208, 193, 200] },
      { name: 'rate-limiter-flexible RateLimiterRedis (ioredis defaults)', decisionsPerSec: 60, p50_ms: 4, p99_ms: 9, reps: [60, 60, 60] },
      { name: 'rate-limiter-flexible RateLimiterRedis (auto-pipelining)', decisionsPerSec: 101, p50_ms: 2, p99_ms: 5, reps: [100, 100, 101.5] },
    ]);
    assert.equal(out.find((e) => e.name === 'ratewarden Redis store, 1 rule')!.ratio_vs.rate_limiter_flexible, 1.97);
  });
});
