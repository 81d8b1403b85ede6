/**
 * From part rows to results.json's `cases` and `engine`: stable names across repetitions, every
 * expected peer present (missing ones say why), and ratios against peers of the same run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyEngineCase, engineCases, FIXED_RATE_DIRECT, FIXED_RATE_RW, HTTP_CASES, httpCases, stableHttpRow } from '../../../bench/report/cases.js';

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
});
