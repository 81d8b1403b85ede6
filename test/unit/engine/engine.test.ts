/**
 * The rule engine over the memory store: which rules match, what their keys and effective limits
 * are, how several rules combine into one verdict, and what the control plane changes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type ControlView, type Engine, type Verdict } from '../../../sidecar/engine/index.js';
import { rateLimited } from '../../../sidecar/answers/index.js';
import { ManualClock, facts, oneRule, policy, type FactsInput } from './helpers.js';

async function times(engine: Engine, n: number, input: FactsInput = {}): Promise<Verdict[]> {
  const out: Verdict[] = [];
  for (let i = 0; i < n; i++) out.push(await engine.decide(facts(input)));
  return out;
}
const kinds = (vs: Verdict[]): string[] => vs.map((v) => v.kind);

function control(partial: Partial<ControlView>): ControlView {
  return { block: () => null, override: () => null, loadMultiplier: () => 1, ...partial };
}

describe('matching', () => {
  const p = policy(`
rules:
  - { id: login, match: { method: POST, path: /login }, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }
  - { id: api, match: { path: "/api/**", host: "*.example.com" }, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }
`);

  it('applies a rule only to its method, path glob and host glob', async () => {
    const e = createEngine({ policy: p, service: 's', clock: new ManualClock() });
    assert.equal((await e.decide(facts({ method: 'GET', path: '/login' }))).rule, null);
    assert.equal((await e.decide(facts({ method: 'POST', path: '/login' }))).rule, 'login');
    assert.equal((await e.decide(facts({ path: '/api/v1/users', host: 'eu.example.com' }))).rule, 'api');
    assert.equal((await e.decide(facts({ path: '/api/v1/users', host: 'example.org' }))).rule, null);
    assert.equal((await e.decide(facts({ path: '/apiary' }))).rule, null);
  });

  it('applies a GET rule to HEAD too (servers run the GET handler for it)', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, match: { method: GET, path: /items }, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }'), service: 's', clock: new ManualClock() });
    assert.equal((await e.decide(facts({ method: 'HEAD', path: '/items' }))).kind, 'allow');
    assert.equal((await e.decide(facts({ method: 'GET', path: '/items' }))).kind, 'limit');
    assert.equal((await e.decide(facts({ method: 'POST', path: '/items' }))).rule, null);
  });

  it('answers allow with no outcomes and no headline when no rule matches', async () => {
    const e = createEngine({ policy: p, service: 's' });
    const v = await e.decide(facts({ path: '/other' }));
    assert.equal(v.kind, 'allow');
    assert.equal(v.decision, 'allowed');
    assert.deepEqual(v.outcomes, []);
    assert.equal(v.headline, null);
  });
});

describe('keys', () => {
  it('counts each API key separately', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, key: [apiKey], algorithm: fixed-window, limit: 1, window: 60s }'), service: 's', clock: new ManualClock() });
    assert.equal((await e.decide(facts({ apiKeyId: 'aaaaaaaaaaaaaaaa' }))).kind, 'allow');
    assert.equal((await e.decide(facts({ apiKeyId: 'aaaaaaaaaaaaaaaa' }))).kind, 'limit');
    assert.equal((await e.decide(facts({ apiKeyId: 'bbbbbbbbbbbbbbbb' }))).kind, 'allow');
  });

  it('falls back to the IP for a request without an API key', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, key: [apiKey], algorithm: fixed-window, limit: 1, window: 60s }'), service: 's', clock: new ManualClock() });
    assert.equal((await e.decide(facts({ ip: '10.0.0.7' }))).kind, 'allow');
    assert.equal((await e.decide(facts({ ip: '10.0.0.7' }))).kind, 'limit');
    assert.equal((await e.decide(facts({ ip: '10.0.0.8' }))).kind, 'allow');
  });

  it('shares one budget among every caller under the global key', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, key: [global], algorithm: fixed-window, limit: 2, window: 60s }'), service: 's', clock: new ManualClock() });
    assert.deepEqual(kinds([await e.decide(facts({ ip: '1.1.1.1' })), await e.decide(facts({ ip: '2.2.2.2' })), await e.decide(facts({ ip: '3.3.3.3' }))]), ['allow', 'allow', 'limit']);
  });

  it('keys a hybrid rule on every part, and a header part on the header value', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, key: [header:x-tenant, ip], algorithm: fixed-window, limit: 1, window: 60s }'), service: 's', clock: new ManualClock() });
    assert.equal((await e.decide(facts({ ip: '1.1.1.1', headers: { 'x-tenant': 'acme' } }))).kind, 'allow');
    assert.equal((await e.decide(facts({ ip: '1.1.1.1', headers: { 'x-tenant': 'acme' } }))).kind, 'limit');
    assert.equal((await e.decide(facts({ ip: '1.1.1.1', headers: { 'x-tenant': 'globex' } }))).kind, 'allow');
    assert.equal((await e.decide(facts({ ip: '2.2.2.2', headers: { 'x-tenant': 'acme' } }))).kind, 'allow');
  });

  it('keys the user part on the verified JWT claim', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, key: [user], algorithm: fixed-window, limit: 1, window: 60s }'), service: 's', clock: new ManualClock() });
    assert.equal((await e.decide(facts({ user: 'alice', ip: '1.1.1.1' }))).kind, 'allow');
    assert.equal((await e.decide(facts({ user: 'alice', ip: '2.2.2.2' }))).kind, 'limit');
    assert.equal((await e.decide(facts({ user: 'bob', ip: '1.1.1.1' }))).kind, 'allow');
  });
});

describe('effective limits', () => {
  const tiered = (rule: string): ReturnType<typeof policy> =>
    policy(`
tiers: { free: {}, pro: { multiplier: 3 } }
rules:
  - ${rule}
`);

  it('multiplies the limit by the tier the identity layer resolved', async () => {
    const e = createEngine({ policy: tiered('{ id: r, key: [ip], algorithm: fixed-window, limit: 2, window: 60s }'), service: 's', clock: new ManualClock() });
    assert.deepEqual(kinds(await times(e, 3, { tier: 'free', ip: '1.1.1.1' })), ['allow', 'allow', 'limit']);
    const pro = await times(e, 7, { tier: 'pro', ip: '2.2.2.2' });
    assert.deepEqual(kinds(pro), ['allow', 'allow', 'allow', 'allow', 'allow', 'allow', 'limit']);
    assert.equal(pro[0]!.headline!.limit, 6);
  });

  it('ignores the tier for a rule with tiers: false', async () => {
    const e = createEngine({ policy: tiered('{ id: r, key: [ip], algorithm: fixed-window, limit: 2, window: 60s, tiers: false }'), service: 's', clock: new ManualClock() });
    assert.deepEqual(kinds(await times(e, 3, { tier: 'pro' })), ['allow', 'allow', 'limit']);
  });

  it('applies an override multiplier, an override limit that replaces the tiered limit, and the load multiplier', async () => {
    const p = tiered('{ id: r, key: [ip], algorithm: fixed-window, limit: 10, window: 60s }');
    const byIp: Record<string, { multiplier?: number; limit?: number }> = { 'ip:1.1.1.1': { multiplier: 0.2 }, 'ip:2.2.2.2': { limit: 1 } };
    const ctl = control({
      override: (rule, ids) => (rule === 'r' ? ids.map((id) => byIp[id]).find((o) => o !== undefined) ?? null : null),
      loadMultiplier: (tier) => (tier === 'free' ? 0.5 : 1),
    });
    const e = createEngine({ policy: p, service: 's', clock: new ManualClock(), control: ctl });
    assert.equal((await e.decide(facts({ ip: '1.1.1.1', tier: 'pro' }))).headline!.limit, 6); // 10 × 3 × 0.2
    assert.equal((await e.decide(facts({ ip: '2.2.2.2', tier: 'pro' }))).headline!.limit, 1); // replaced
    assert.equal((await e.decide(facts({ ip: '3.3.3.3', tier: 'free' }))).headline!.limit, 5); // 10 × 1 × 0.5
  });
  it('never lets a multiplier turn a rule into a block: one request of the rule\'s cost stays admitted', async () => {
    const tight = control({ override: () => ({ multiplier: 0.1 }), loadMultiplier: () => 0.5 });
    const window = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 3, window: 60s }'), service: 's', clock: new ManualClock(), control: tight });
    const w = await times(window, 2);
    assert.deepEqual(kinds(w), ['allow', 'limit']); // 3 × 0.1 × 0.5 = 0.15 → 1, not 0
    assert.equal(w[0]!.headline!.limit, 1);
    const bucket = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 4, cost: 2 }'), service: 's', clock: new ManualClock(), control: tight });
    assert.deepEqual(kinds(await times(bucket, 2)), ['allow', 'limit']); // burst 4 × 0.05 = 0.2 → 2 (the cost)
    const blocked = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 3, window: 60s }'), service: 's', clock: new ManualClock(), control: control({ override: () => ({ limit: 0 }), loadMultiplier: () => 0.5 }) });
    assert.deepEqual(kinds(await times(blocked, 1)), ['limit']); // an explicit limit 0 stays 0
  });
  it('counts a multiplier below 0.001 (an override of 0 written by hand) as 0.001: a bucket still refills', async () => {
    const clock = new ManualClock();
    const zero = control({ override: () => ({ multiplier: 0 }) });
    const bucket = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 10 }'), service: 's', clock, control: zero });
    assert.deepEqual(kinds(await times(bucket, 2)), ['allow', 'limit']); // burst 10 × 0.001 → 1 (one request)
    clock.advance(99_000);
    assert.equal((await bucket.decide(facts())).kind, 'limit'); // 10/s × 0.001 = one per 100 s
    clock.advance(1_000);
    assert.equal((await bucket.decide(facts())).kind, 'allow'); // refilled: a tighten, not a block
  });
});

describe('control plane', () => {
  it('answers a blocked client with kind block before deciding anything', async () => {
    const until = 1_700_000_600_000;
    const clock = new ManualClock(1_700_000_000_000);
    const ctl = control({ block: (ids) => (ids.includes('ip:6.6.6.6') ? { until, reason: 'scraping', anomalyId: 'a1' } : null) });
    const e = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }'), service: 's', clock, control: ctl });
    const v = await e.decide(facts({ ip: '6.6.6.6' }));
    assert.equal(v.kind, 'block');
    assert.equal(v.decision, 'blocked');
    assert.deepEqual(v.block, { until, reason: 'scraping', anomalyId: 'a1' });
    assert.equal(v.retryAfterMs, 600_000);
    assert.equal((await e.decide(facts({ ip: '7.7.7.7' }))).kind, 'allow');
    assert.equal(e.stats!().keys, 1); // the blocked request created no counter
  });
});

describe('several rules', () => {
  const p = policy(`
rules:
  - { id: wide, key: [ip], algorithm: fixed-window, limit: 10, window: 60s }
  - { id: narrow, key: [ip], algorithm: fixed-window, limit: 2, window: 10s }
`);

  it('passes a request only when every rule passes and reports the most constraining one', async () => {
    const e = createEngine({ policy: p, service: 's', clock: new ManualClock() });
    const [a, b, c] = await times(e, 3);
    assert.equal(a!.headline!.ruleId, 'narrow');
    assert.equal(b!.headline!.remaining, 0);
    assert.equal(c!.kind, 'limit');
    assert.equal(c!.rule, 'narrow');
    assert.equal(c!.outcomes.length, 2);
  });

  it('does not consume any rule budget for a request another rule rejected', async () => {
    const clock = new ManualClock();
    const e = createEngine({ policy: p, service: 's', clock });
    await times(e, 5); // 2 admitted, 3 rejected by narrow
    clock.advance(10_000); // narrow resets, wide still counts 2 of 10
    const v = await e.decide(facts());
    assert.equal(v.outcomes.find((o) => o.ruleId === 'wide')!.remaining, 7);
  });

  it('counts rejected requests on a countRejected rule', async () => {
    const clock = new ManualClock();
    const e = createEngine({
      policy: policy(`
rules:
  - { id: wide, key: [ip], algorithm: fixed-window, limit: 10, window: 60s, countRejected: true }
  - { id: narrow, key: [ip], algorithm: fixed-window, limit: 2, window: 10s }
`),
      service: 's',
      clock,
    });
    await times(e, 5);
    clock.advance(10_000);
    assert.equal((await e.decide(facts())).outcomes.find((o) => o.ruleId === 'wide')!.remaining, 4);
  });

  it('gives Retry-After of the rejecting rule that frees last, never earlier than its reset', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const e = createEngine({
      policy: policy(`
rules:
  - { id: minute, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }
  - { id: second, key: [ip], algorithm: fixed-window, limit: 1, window: 1s }
`),
      service: 's',
      clock,
    });
    await e.decide(facts());
    const v = await e.decide(facts());
    assert.equal(v.kind, 'limit');
    assert.equal(v.rule, 'minute');
    assert.equal(v.retryAfterMs, v.headline!.retryAfterMs);
    assert.ok(v.headline!.retryAfterMs >= v.headline!.resetMs);
    assert.ok(v.retryAfterMs! >= Math.max(...v.outcomes.map((o) => o.retryAfterMs)));
  });
});

describe('shadow rules', () => {
  it('report what they would have rejected without rejecting', async () => {
    const e = createEngine({
      policy: policy(`
rules:
  - { id: enforced, key: [ip], algorithm: fixed-window, limit: 100, window: 60s }
  - { id: trial, key: [ip], algorithm: fixed-window, limit: 1, window: 60s, shadow: true }
`),
      service: 's',
      clock: new ManualClock(),
    });
    const [first, second] = await times(e, 2);
    assert.equal(first!.decision, 'allowed');
    assert.equal(second!.kind, 'allow');
    assert.equal(second!.decision, 'shadow_limited');
    assert.equal(second!.headline!.ruleId, 'enforced');
    assert.equal(second!.outcomes.find((o) => o.ruleId === 'trial')!.allowed, false);
  });

  it('report a GraphQL query they cannot measure (too deep, too costly, unparseable) as shadow_limited, never a 400', async () => {
    const e = createEngine({
      policy: policy(`
rules:
  - { id: enforced, key: [ip], algorithm: fixed-window, limit: 100, window: 60s }
  - { id: gql, match: { path: /graphql }, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 10, shadow: true, cost: { graphql: { maxDepth: 2, maxCost: 50 } } }
`),
      service: 's',
      clock: new ManualClock(),
    });
    const queries = ['{ a { b { c { d } } } }', '{ users(first: 100) { id } }', 'not graphql'];
    for (const [i, query] of queries.entries()) {
      const v = await e.decide(facts({ method: 'POST', path: '/graphql', graphql: { query } }));
      assert.equal(v.kind, 'allow', query);
      assert.equal(v.decision, 'shadow_limited');
      assert.equal(v.rule, 'enforced');
      assert.equal(v.headline!.ruleId, 'enforced');
      assert.equal(v.headline!.remaining, 99 - i); // the enforced rule counts it as usual
      assert.deepEqual(
        v.outcomes.map((o) => [o.ruleId, o.allowed, o.shadow]),
        [
          ['enforced', true, false],
          ['gql', false, true],
        ],
      );
    }
    const alone = createEngine({ policy: oneRule('{ id: gql, match: { path: /graphql }, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 10, shadow: true, cost: { graphql: { maxDepth: 2 } } }'), service: 's', clock: new ManualClock() });
    const v = await alone.decide(facts({ method: 'POST', path: '/graphql', graphql: { query: '{ a { b { c } } }' } }));
    assert.deepEqual([v.kind, v.decision, v.rule, v.headline], ['allow', 'shadow_limited', 'gql', null]);
  });
});

describe('leaky bucket in queue mode', () => {
  it('answers queue with the delay, then limit beyond maxDelay', async () => {
    const e = createEngine({
      policy: oneRule('{ id: q, key: [ip], algorithm: leaky-bucket, rate: 10/s, burst: 1, mode: queue, maxDelay: 250ms }'),
      service: 's',
      clock: new ManualClock(1_700_000_000_000),
    });
    const vs = await times(e, 5);
    assert.deepEqual(kinds(vs), ['allow', 'queue', 'queue', 'limit', 'limit']);
    assert.deepEqual(vs.map((v) => v.delayMs), [0, 100, 200, 0, 0]);
    assert.equal(vs[1]!.decision, 'queued');
  });
});

describe('concurrency', () => {
  const p = oneRule('{ id: c, key: [ip], algorithm: concurrency, limit: 2, timeout: 30s }');

  it('admits up to the limit in flight and frees a slot when a request is released', async () => {
    const e = createEngine({ policy: p, service: 's', clock: new ManualClock() });
    const [a, b, c] = await times(e, 3);
    assert.deepEqual(kinds([a!, b!, c!]), ['allow', 'allow', 'limit']);
    assert.equal(c!.release, undefined);
    a!.release!();
    assert.equal((await e.decide(facts())).kind, 'allow');
  });

  it('releases a lease once however many times release is called', async () => {
    const e = createEngine({ policy: p, service: 's', clock: new ManualClock() });
    const [a, b] = await times(e, 2);
    a!.release!();
    a!.release!();
    a!.release!();
    assert.deepEqual(kinds(await times(e, 2)), ['allow', 'limit']);
    b!.release!();
  });

  it('expires a lease that is never released after the timeout', async () => {
    const clock = new ManualClock();
    const e = createEngine({ policy: p, service: 's', clock });
    await times(e, 2);
    assert.equal((await e.decide(facts())).kind, 'limit');
    clock.advance(30_000);
    assert.equal((await e.decide(facts())).kind, 'allow');
  });
});

describe('GraphQL cost', () => {
  const p = oneRule('{ id: gql, match: { path: /graphql }, key: [ip], algorithm: token-bucket, rate: 10/m, burst: 10, cost: { graphql: { maxDepth: 3, fieldCost: 1, listFactor: 10 } } }');

  it('says which requests need their body read', () => {
    const e = createEngine({ policy: p, service: 's' });
    assert.equal(e.needsBody('POST', '/graphql', 'h'), true);
    assert.equal(e.needsBody('POST', '/rest', 'h'), false);
  });

  it('charges the query cost against the budget', async () => {
    const e = createEngine({ policy: p, service: 's', clock: new ManualClock() });
    const v = await e.decide(facts({ method: 'POST', path: '/graphql', graphql: { query: '{ users(first: 2) { name email } }' } }));
    assert.equal(v.cost, 5); // users 1 + 2 × (name + email)
    assert.equal(v.headline!.remaining, 5);
    assert.equal((await e.decide(facts({ method: 'POST', path: '/graphql', graphql: { query: '{ a b c d e f }' } }))).kind, 'limit');
  });

  it('refuses a query deeper than maxDepth, and one that does not parse, with bad-request', async () => {
    const e = createEngine({ policy: p, service: 's' });
    const deep = await e.decide(facts({ method: 'POST', path: '/graphql', graphql: { query: '{ a { b { c { d } } } }' } }));
    assert.equal(deep.kind, 'bad-request');
    assert.match(deep.detail!, /depth/);
    const broken = await e.decide(facts({ method: 'POST', path: '/graphql', graphql: { query: '{ a { ' } }));
    assert.equal(broken.kind, 'bad-request');
  });

  it('refuses a request whose body it could not read as the server would (compressed, another charset, not JSON), instead of one unit', async () => {
    const e = createEngine({ policy: p, service: 's' });
    const v = await e.decide(facts({ method: 'POST', path: '/graphql', graphql: { query: '', unpriceable: 'a GraphQL request body with Content-Encoding "gzip" cannot be priced: send it uncompressed' } }));
    assert.equal(v.kind, 'bad-request');
    assert.match(v.detail!, /Content-Encoding/);
  });

  it('keeps a cost beyond any float finite: refused above maxCost, else a 429 with a real Retry-After, and the budget unharmed', async () => {
    const big = '1' + '0'.repeat(400);
    const gql = (query: string) => facts({ method: 'POST', path: '/graphql', graphql: { query } });
    const huge = `{ b(first: ${big}) { c } }`;
    const zeroOfHuge = `{ a(first: 0) { b(first: ${big}) { c } } }`; // Infinity × 0 was NaN
    for (const alg of [
      'algorithm: sliding-window-log, limit: 10, window: 10s',
      'algorithm: token-bucket, rate: 10/s, burst: 10',
      'algorithm: leaky-bucket, rate: 10/s, burst: 10',
      'algorithm: fixed-window, limit: 10, window: 10s, countRejected: true',
      'algorithm: token-bucket, rate: 1/m, burst: 2, countRejected: true',
    ]) {
      const clock = new ManualClock();
      const capped = createEngine({ policy: oneRule(`{ id: gq, match: { path: /graphql }, key: [ip], ${alg}, cost: { graphql: { maxDepth: 8, maxCost: 1000 } } }`), service: 's', clock });
      assert.equal((await capped.decide(gql(huge))).kind, 'bad-request', alg);
      const zero = await capped.decide(gql(zeroOfHuge));
      assert.deepEqual([zero.kind, zero.cost], ['allow', 1], alg);

      const open = createEngine({ policy: oneRule(`{ id: gq, match: { path: /graphql }, key: [ip], ${alg}, cost: { graphql: { maxDepth: 8 } } }`), service: 's', clock });
      const v = await open.decide(gql(huge));
      assert.equal(v.kind, 'limit', alg);
      assert.ok(Number.isFinite(v.retryAfterMs) && v.retryAfterMs! >= 1, `${alg}: Retry-After ${v.retryAfterMs}`);
      const body = JSON.parse(rateLimited(v).body) as { retryAfter: number };
      assert.ok(Number.isInteger(body.retryAfter) && body.retryAfter >= 1, alg);
      assert.equal((await open.decide(gql(zeroOfHuge))).kind, alg.includes('countRejected') ? 'limit' : 'allow', alg);
      clock.advance(3_600_000);
      assert.deepEqual(kinds(await Promise.all([open.decide(gql('{ a }')), open.decide(gql('{ a }'))])), ['allow', 'allow'], alg);
    }
  });
});

describe('hot reload', () => {
  it('keeps the counters of rules that did not change', async () => {
    const clock = new ManualClock();
    const e = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 3, window: 60s }'), service: 's', clock });
    await times(e, 3);
    e.setPolicy(oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 4, window: 60s }'));
    assert.deepEqual(kinds(await times(e, 2)), ['allow', 'limit']);
  });

  it('keeps a kept rule\'s counters for its new, longer window (they were dropped as idle by the old one)', async () => {
    const clock = new ManualClock();
    const e = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: sliding-window-log, limit: 2, window: 1s }'), service: 's', clock });
    assert.deepEqual(kinds(await times(e, 2)), ['allow', 'allow']);
    e.setPolicy(oneRule('{ id: r, key: [ip], algorithm: sliding-window-log, limit: 2, window: 10s }'));
    clock.advance(2_000); // idle past the old window, well inside the new one
    assert.deepEqual(kinds(await times(e, 1)), ['limit']);
  });

  it('keeps a bucket\'s state for the horizon of its tightened demand', async () => {
    const clock = new ManualClock();
    let multiplier: number | null = null;
    const ctl = control({ override: () => (multiplier === null ? null : { multiplier }) });
    const e = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: token-bucket, rate: 10/s, burst: 4, cost: 2 }'), service: 's', clock, control: ctl });
    assert.deepEqual(kinds(await times(e, 1)), ['allow']); // stored with a 400 ms horizon (4 units at 10/s)
    multiplier = 0.05; // 0.5 units/s, burst floored at the cost, 2: a 4 s horizon
    clock.advance(100);
    assert.deepEqual(kinds(await times(e, 1)), ['allow']); // 2 of the 2 tightened units
    clock.advance(1_000); // 0.5 unit back: still short of 2
    assert.deepEqual(kinds(await times(e, 1)), ['limit']);
  });

  it('refuses a policy that needs Redis when none was given, keeping the old one', async () => {
    const e = createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }'), service: 's' });
    assert.throws(() => e.setPolicy(oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }', 'store: { kind: redis }')), { code: 'RW_CONFIG_STORE' });
    assert.deepEqual(kinds(await times(e, 2)), ['allow', 'limit']);
  });
});

describe('creation', () => {
  it('requires a Redis client when the policy stores in Redis', () => {
    assert.throws(() => createEngine({ policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }', 'store: { kind: redis }'), service: 's' }), {
      code: 'RW_CONFIG_STORE',
    });
  });
});
