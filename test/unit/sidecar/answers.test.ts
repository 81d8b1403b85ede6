import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendRateLimitHeaders, badRequest, blocked, headerStyles, payloadTooLarge, rateLimited, retryAfterSeconds, sfString, QUOTA_EXCEEDED, ABNORMAL_USAGE } from '../../../sidecar/answers/index.js';
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

  test('numbers beyond 15 digits, Infinity and NaN are written as integers in 0…999999999999999', () => {
    const SF_INT = /^\d{1,15}$/;
    const cases: Array<Partial<RuleOutcome>> = [
      { limit: Infinity, remaining: Infinity, windowMs: NaN, resetMs: NaN }, // tiers.free.multiplier: 1e308
      { limit: 1e20, remaining: 1e20, windowMs: 8.64e24, resetMs: 8.64e24 }, // limit: 1e20, window: 99999999999999999999d
      { limit: NaN, remaining: NaN, windowMs: 0, resetMs: -5 },
    ];
    for (const o of cases) {
      const h = pairs(appendRateLimitHeaders([], outcome(o), headerStyles(['x-ratelimit', 'ietf']), NOW, false));
      for (const name of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) assert.match(h[name]!, SF_INT, `${name}: ${h[name]} for ${JSON.stringify(o)}`);
      assert.match(h['ratelimit-policy']!, /^"per-key";q=\d{1,15};w=\d{1,15}$/, JSON.stringify(o));
      assert.match(h['ratelimit']!, /^"per-key";r=\d{1,15};t=\d{1,15}$/, JSON.stringify(o));
    }
    const huge = pairs(appendRateLimitHeaders([], outcome({ limit: 1e20, remaining: 1e20 }), headerStyles(['x-ratelimit']), NOW, false));
    assert.equal(huge['x-ratelimit-limit'], '999999999999999');
    assert.equal(retryAfterSeconds(outcome({ retryAfterMs: NaN, resetMs: Infinity })), 999_999_999_999_999);
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

  test('a 429 body stays valid JSON for a limit beyond any header integer', () => {
    for (const limit of [Infinity, 1e20, NaN]) {
      const body = JSON.parse(rateLimited(limited({ limit, retryAfterMs: NaN, resetMs: 1_000 }, { retryAfterMs: NaN })).body);
      assert.ok(Number.isInteger(body.limit) && body.limit >= 0 && body.limit <= 999_999_999_999_999, String(body.limit));
      assert.ok(Number.isInteger(body.retryAfter) && body.retryAfter >= 1, String(body.retryAfter));
    }
  });

  test('a block until beyond the last Date (or not a number) never throws: it is answered as the last Date', () => {
    for (const until of [NOW + 200_000_000 * 86_400_000, Infinity, 1e300]) {
      const p = blocked({ until, reason: 'x' }, NOW);
      const body = JSON.parse(p.body);
      assert.equal(p.status, 403);
      assert.equal(body.until, 8.64e15);
      assert.match(body.detail, /blocked until \+275760-09-13T00:00:00\.000Z/);
      assert.equal(p.retryAfter, Math.ceil((8.64e15 - NOW) / 1000));
    }
    const nan = blocked({ until: NaN, reason: 'x' }, NOW);
    assert.equal(JSON.parse(nan.body).until, NOW);
    assert.equal(nan.retryAfter, 1);
  });

  test('a reason with quotes or newlines stays valid JSON', () => {
    const body = JSON.parse(blocked({ until: NOW + 1000, reason: 'a "quoted"\nreason' }, NOW).body);
    assert.equal(body.reason, 'a "quoted"\nreason');
  });
});

describe('other answers', () => {
  test('413 says 413 in its body too', () => {
    const p = payloadTooLarge('a GraphQL request body larger than 1048576 bytes cannot be priced');
    assert.equal(p.status, 413);
    const body = JSON.parse(p.body);
    assert.equal(body.status, 413);
    assert.equal(body.title, 'Content Too Large');
    assert.equal(body.error, 'payload_too_large');
    assert.match(body.detail, /larger than 1048576 bytes/);
    assert.equal(JSON.parse(badRequest('x').body).status, 400);
  });
});
