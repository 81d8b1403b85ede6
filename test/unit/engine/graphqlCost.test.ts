/**
 * Static GraphQL cost: depth through fragments, field costs, list factors, aliases, and the queries
 * that must be refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { graphqlCost } from '../../../sidecar/engine/index.js';
import { MAX_COST, MAX_GRAPHQL_BATCH } from '../../../sidecar/engine/graphqlCost.js';

const cfg: { maxDepth: number; fieldCost: number; listFactor: number; maxCost: number | null } = { maxDepth: 5, fieldCost: 1, listFactor: 10, maxCost: null };
const cost = (query: string, extra: { operationName?: string; variables?: Record<string, unknown> } = {}, c = cfg) => graphqlCost({ query, ...extra }, c);

describe('graphql cost', () => {
  it('counts one unit per field selected', () => {
    assert.deepEqual(cost('{ me { name email } }'), { ok: true, cost: 3, depth: 2 });
  });

  it('multiplies the cost below a field by its first/last/limit argument', () => {
    assert.equal((cost('{ users(first: 5) { name friends(last: 2) { name } } }') as { cost: number }).cost, 1 + 5 * (1 + 1 + 2 * 1));
    assert.equal((cost('{ users(limit: 3) { name } }') as { cost: number }).cost, 4);
  });

  it('takes a list size from the variables, and the listFactor when it cannot be known', () => {
    assert.equal((cost('query Q($n: Int) { users(first: $n) { name } }', { variables: { n: 7 } }) as { cost: number }).cost, 8);
    assert.equal((cost('query Q($n: Int) { users(first: $n) { name } }') as { cost: number }).cost, 11);
  });

  it("takes a variable's int default when the request does not send it, and what it sends over the default", () => {
    const q = 'query Q($n: Int = 100000) { users(first: $n) { id name } }';
    assert.equal((cost(q) as { cost: number }).cost, 200_001);
    assert.equal((cost(q, { variables: {} }) as { cost: number }).cost, 200_001);
    assert.equal((cost(q, { variables: { n: 3 } }) as { cost: number }).cost, 7);
    assert.equal((cost(q, { variables: { n: null } }) as { cost: number }).cost, 21); // sent as null: unknown, listFactor
    assert.equal((cost('query Q($n: Int = "many") { users(first: $n) { id } }') as { cost: number }).cost, 11); // not an int: listFactor
    const r = cost(q, {}, { ...cfg, maxCost: 1_000 });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /cost 200001 exceeds/);
  });

  it('keeps the cost a finite number for list sizes beyond any float (400 digits, 1e300) and a fragment bomb of 2^1100', () => {
    const big = '1' + '0'.repeat(400);
    const bombDefs = Array.from({ length: 1_100 }, (_, i) => `fragment F${i} on T { ...F${i + 1} ...F${i + 1} }`).join(' ');
    const bomb = `{ root { ...F0 } } ${bombDefs} fragment F1100 on T { leaf }`;
    const queries: Array<[string, Record<string, unknown> | undefined]> = [
      [`{ b(first: ${big}) { c } }`, undefined],
      [`{ a(first: 0) { b(first: ${big}) { c } } }`, undefined], // Infinity × 0 was NaN
      ['query($n: Int) { a(first: 0) { b(first: $n) { c(first: $n) { d } } } }', { n: 1e300 }],
      ['query($n: Int) { b(first: $n) { c(first: $n) { d } } }', { n: 1e300 }],
      [`query($n: Int = ${big}) { b(first: $n) { c } }`, undefined],
      [bomb, undefined],
      [`{ a(first: 0) { ...F0 } } ${bombDefs} fragment F1100 on T { leaf }`, undefined],
    ];
    for (const [query, variables] of queries) {
      const free = graphqlCost({ query, variables }, { ...cfg, maxDepth: 10 });
      assert.equal(free.ok, true, query.slice(0, 60));
      const units = (free as { cost: number }).cost;
      assert.ok(Number.isFinite(units) && units >= 1 && units <= MAX_COST, `${query.slice(0, 60)}: cost ${units}`);
      const capped = graphqlCost({ query, variables }, { ...cfg, maxDepth: 10, maxCost: 1_000 });
      if (units > 1_000) assert.equal(capped.ok, false, `${query.slice(0, 60)}: cost ${units} passed maxCost`);
      else assert.deepEqual(capped, free);
    }
  });

  it('counts every alias, so alias flooding costs what it asks for', () => {
    const flood = `{ ${Array.from({ length: 50 }, (_, i) => `a${i}: expensive { id }`).join(' ')} }`;
    assert.equal((cost(flood) as { cost: number }).cost, 100);
  });

  it('measures depth through fragments and inline fragments', () => {
    const q = 'query { a { ...F } } fragment F on T { b { ... on U { c { d } } } }';
    assert.deepEqual(cost(q), { ok: true, cost: 4, depth: 4 });
  });

  it('refuses a query deeper than maxDepth, counting depth inside fragments', () => {
    const r = cost('{ a { ...F } } fragment F on T { b { c { d { e { f } } } } }');
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /depth/);
  });

  it('refuses a fragment cycle instead of looping', () => {
    const r = cost('{ a { ...A } } fragment A on T { x { ...B } } fragment B on T { y { ...A } }');
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /cycle/);
  });

  it('measures a fragment bomb in linear time and charges its full size', () => {
    // each fragment spreads the next one twice: 2^20 leaf fields
    const defs = Array.from({ length: 20 }, (_, i) => `fragment F${i} on T { x${i}: f { ...F${i + 1} } y${i}: f { ...F${i + 1} } }`).join(' ');
    const started = performance.now();
    const r = graphqlCost({ query: `{ root { ...F0 } } ${defs} fragment F20 on T { leaf }` }, { ...cfg, maxDepth: 100 });
    assert.ok(performance.now() - started < 200);
    assert.equal(r.ok, true);
    assert.ok((r as { cost: number }).cost > 2 ** 20);
  });

  it('refuses a query that does not parse, an unknown operation name and several unnamed operations', () => {
    assert.equal(cost('{ a ').ok, false);
    assert.equal(cost('query A { a }', { operationName: 'B' }).ok, false);
    assert.equal(cost('query A { a } query B { b }').ok, false);
    assert.deepEqual(cost('query A { a } query B { b c }', { operationName: 'B' }), { ok: true, cost: 2, depth: 1 });
  });

  it('refuses a query above maxCost', () => {
    const r = cost('{ users(first: 100) { name } }', {}, { ...cfg, maxCost: 50 });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /cost 101/);
  });
});

describe('graphql cost of a batch (a JSON array of operations)', () => {
  const heavy = '{ users(first: 1000) { friends(first: 1000) { name } } }';
  const batch = (...queries: Array<string | null>) => ({ query: '', batch: queries.map((q) => (q === null ? null : { query: q })) });

  it('costs the sum of its operations, its depth the deepest', () => {
    assert.deepEqual(graphqlCost(batch('{ me { name email } }', '{ a }', '{ users(limit: 3) { name } }'), cfg), { ok: true, cost: 3 + 1 + 4, depth: 2 });
  });

  it('is refused when the sum is above maxCost, though each operation is under it', () => {
    const r = graphqlCost(batch(...Array.from({ length: 50 }, () => '{ me { name email } }')), { ...cfg, maxCost: 100 });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /GraphQL batch cost 102 \(after 34 of 50 operations\) exceeds the maximum of 100/);
    assert.equal(graphqlCost(batch(...Array.from({ length: 33 }, () => '{ me { name email } }')), { ...cfg, maxCost: 100 }).ok, true);
  });

  it('refuses 50 costly operations that were charged 1 unit as a whole', () => {
    const r = graphqlCost(batch(...Array.from({ length: 50 }, () => heavy)), { ...cfg, maxCost: 50 });
    assert.equal(r.ok, false);
    const open = graphqlCost(batch(...Array.from({ length: 50 }, () => heavy)), cfg);
    assert.deepEqual(open, { ok: true, cost: 50 * (1 + 1000 * (1 + 1000)), depth: 3 });
  });

  it('applies maxDepth to each operation', () => {
    const r = graphqlCost(batch('{ a }', '{ a { b { c { d { e { f } } } } } }'), cfg);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /^GraphQL batch element 1: GraphQL query depth/);
  });

  it('refuses an element without a query, an empty batch and more than the bound of operations', () => {
    assert.match((graphqlCost(batch('{ a }', null), cfg) as { reason: string }).reason, /element 1 has no query/);
    assert.match((graphqlCost(batch(), cfg) as { reason: string }).reason, /holds no operation/);
    assert.equal(MAX_GRAPHQL_BATCH, 100);
    assert.equal(graphqlCost(batch(...Array.from({ length: 100 }, () => '{ a }')), cfg).ok, true);
    assert.match((graphqlCost(batch(...Array.from({ length: 101 }, () => '{ a }')), cfg) as { reason: string }).reason, /batch of 101 operations exceeds the maximum of 100/);
  });

  it('saturates the sum at MAX_COST', () => {
    const big = '1' + '0'.repeat(400);
    assert.deepEqual(graphqlCost(batch(`{ b(first: ${big}) { c } }`, `{ b(first: ${big}) { c } }`), cfg), { ok: true, cost: MAX_COST, depth: 2 });
  });
});
