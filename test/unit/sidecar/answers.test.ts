import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendRateLimitHeaders, blocked, headerStyles, rateLimited, retryAfterSeconds, sfString, QUOTA_EXCEEDED, ABNORMAL_USAGE } from '../../../sidecar/answers/index.js';
import type { RuleOutcome, Verdict } from '../../../sidecar/engine/types.js';

const NOW = 1_767_225_600_000; // 2026-01-01T00:00:00Z

function outcome(o: Partial<RuleOutcome>): RuleOutcome {
  return { ruleId: 'per-key', allowed: true, shadow: false, limit: 100, remaining: 42, windowMs: 60_000, resetMs: 16_200, retryAfterMs: 0, ...o };
}

function pairs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}

describe('rate-limit headers', () => {
  test('X-RateLimit-* and the IETF fields describe the headline rule', () => {
    const h = pairs(appendRateLimitHeaders([], outcome({}), headerStyles(['x-ratelimit', 'ietf']), NOW, false));
    assert.deepEqual(h, {
      'x-ratelimit-limit': '100',
      'x-ratelimit-remaining': '42',
      'x-ratelimit-reset': String(Math.ceil((NOW + 16_200) / 1000)),
      'ratelimit-policy': '"per-key";q=100;w=60',
      ratelimit: '"per-key";r=42;t=17',
    });
  });

  test('only the configured styles are sent', () => {
    assert.deepEqual(Object.keys(pairs(appendRateLimitHeaders([], outcome({}), headerStyles(['ietf']), NOW, false))), ['ratelimit-policy', 'ratelimit']);
    assert.deepEqual(appendRateLimitHeaders([], outcome({}), headerStyles([]), NOW, false), []);
  });

  test('a limited answer reports remaining 0', () => {
    const h = pairs(appendRateLimitHeaders([], outcome({ remaining: 3 }), headerStyles(['x-ratelimit', 'ietf']), NOW, true));
    assert.equal(h['x-ratelimit-remaining'], '0');
    assert.equal(h['ratelimit'], '"per-key";r=0;t=17');
  });

  test('fractional budgets round so an obedient client is never early: remaining down, reset up', () => {
    const h = pairs(appendRateLimitHeaders([], outcome({ limit: 10.7, remaining: 2.9, resetMs: 1 }), headerStyles(['x-ratelimit', 'ietf']), NOW, false));
    assert.equal(h['x-ratelimit-limit'], '10');
    assert.equal(h['x-ratelimit-remaining'], '2');
    assert.equal(h['ratelimit'], '"per-key";r=2;t=1');
  });

  test('sub-second windows are reported as w=1', () => {
    assert.equal(pairs(appendRateLimitHeaders([], outcome({ windowMs: 250 }), headerStyles(['ietf']), NOW, false))['ratelimit-policy'], '"per-key";q=100;w=1');
  });

  test('rule ids are structured-field strings with quotes and backslashes escaped', () => {
    assert.equal(sfString('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(sfString('tab\there'), '"tabhere"');
  });
});

describe('429 and 403 answers', () => {
  const limited = (o: Partial<RuleOutcome>, extra: Partial<Verdict> = {}): Verdict => {
    const out = outcome({ allowed: false, remaining: 0, ...o });
    return { kind: 'limit', decision: 'limited', rule: out.ruleId, outcomes: [out], headline: out, delayMs: 0, cost: 1, ...extra };
  };

  test('the 429 body is the quota-exceeded problem of the contract', () => {
    const p = rateLimited(limited({ retryAfterMs: 16_200, resetMs: 16_200 }));
    assert.equal(p.status, 429);
    assert.equal(p.retryAfter, 17);
    const body = JSON.parse(p.body);
    assert.equal(body.type, QUOTA_EXCEEDED);
    assert.equal(body.status, 429);
    assert.deepEqual(body['violated-policies'], ['per-key']);
    assert.equal(body.error, 'rate_limited');
    assert.equal(body.rule, 'per-key');
    assert.equal(body.limit, 100);
    assert.equal(body.retryAfter, 17);
    assert.equal(typeof body.title, 'string');
  });

  test('Retry-After is at least one second', () => {
    assert.equal(rateLimited(limited({ retryAfterMs: 3, resetMs: 3 })).retryAfter, 1);
    assert.equal(retryAfterSeconds(outcome({ retryAfterMs: 0, resetMs: 0 })), 1);
  });

  test('Retry-After is never earlier than t', () => {
    for (const [retry, reset] of [
      [500, 59_500],
      [2_000, 1_000],
      [999, 1_001],
    ] as const) {
      const o = outcome({ allowed: false, remaining: 0, retryAfterMs: retry, resetMs: reset });
      const t = Number(/t=(\d+)/.exec(pairs(appendRateLimitHeaders([], o, headerStyles(['ietf']), NOW, true))['ratelimit']!)![1]);
      const p = rateLimited(limited({ retryAfterMs: retry, resetMs: reset }));
      assert.ok(p.retryAfter! >= t, `Retry-After ${p.retryAfter} < t ${t}`);
      assert.ok(p.retryAfter! * 1000 >= retry);
    }
  });

  test("the engine's verdict-level retryAfterMs (largest over rejecting rules) wins when later", () => {
    assert.equal(rateLimited(limited({ retryAfterMs: 1_000, resetMs: 1_000 }, { retryAfterMs: 9_500 })).retryAfter, 10);
  });

  test('every rejecting non-shadow rule is listed as violated', () => {
    const a = outcome({ ruleId: 'a', allowed: false, remaining: 0, retryAfterMs: 1_000 });
    const b = outcome({ ruleId: 'b', allowed: false, remaining: 0, retryAfterMs: 1_000 });
    const s = outcome({ ruleId: 's', allowed: false, shadow: true, remaining: 0 });
    const v: Verdict = { kind: 'limit', decision: 'limited', rule: 'a', outcomes: [a, s, b], headline: a, delayMs: 0, cost: 1 };
    assert.deepEqual(JSON.parse(rateLimited(v).body)['violated-policies'], ['a', 'b']);
  });

  test('the 403 body is the abnormal-usage problem with reason, until and Retry-After', () => {
    const until = NOW + 90_500;
    const p = blocked({ until, reason: 'credential stuffing', anomalyId: 'an-1' }, NOW);
    assert.equal(p.status, 403);
    assert.equal(p.retryAfter, 91);
    const body = JSON.parse(p.body);
    assert.equal(body.type, ABNORMAL_USAGE);
    assert.equal(body.error, 'blocked');
    assert.equal(body.reason, 'credential stuffing');
    assert.equal(body.until, until);
    assert.equal(body.anomalyId, 'an-1');
  });

  test('a reason with quotes or newlines stays valid JSON', () => {
    const body = JSON.parse(blocked({ until: NOW + 1000, reason: 'a "quoted"\nreason' }, NOW).body);
    assert.equal(body.reason, 'a "quoted"\nreason');
  });
});
