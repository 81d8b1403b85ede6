/**
 * Static GraphQL cost: depth through fragments, field costs, list factors, aliases, and the queries
 * that must be refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { graphqlCost } from '../../../sidecar/engine/index.js';

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
