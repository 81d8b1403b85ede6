/**
 * What the sidecar takes as the GraphQL request of a body: a JSON operation, a JSON batch, or a raw
 * application/graphql query — decided by the exact media type.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { graphqlRequest } from '../../../sidecar/graphqlBody.js';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const Q = '{ users(first: 1000) { friends(first: 1000) { name } } }';

describe('GraphQL request bodies', () => {
  test('a JSON array body is a batch of its operations, not "no GraphQL"', () => {
    const g = graphqlRequest('POST', '/graphql', 'application/json', json([{ query: Q }, { query: '{ a }', operationName: 'A', variables: { n: 1 } }, { nope: 1 }, 5]));
    assert.ok(g !== null);
    assert.equal(g.query, ''); // a reader unaware of batches refuses it rather than pricing it as one request
    assert.deepEqual(g.batch, [
      { query: Q, operationName: null, variables: null },
      { query: '{ a }', operationName: 'A', variables: { n: 1 } },
      null,
      null,
    ]);
  });

  test('application/graphql is matched as a media type, not as a prefix', () => {
    const raw = Buffer.from(Q);
    for (const type of ['application/graphql', 'Application/GraphQL; charset=utf-8', ' application/graphql ;x=y']) {
      assert.deepEqual(graphqlRequest('POST', '/graphql', type, raw), { query: Q }, type);
    }
    // a JSON body sent with the GraphQL-over-HTTP response type was taken for a raw query (and refused as unparseable)
    for (const type of ['application/graphql-response+json; charset=utf-8', 'application/graphqlx', 'application/json']) {
      assert.deepEqual(graphqlRequest('POST', '/graphql', type, json({ query: Q })), { query: Q, operationName: null, variables: null }, type);
    }
  });

  test('a JSON body with a leading byte-order mark is still read', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json({ query: Q })]);
    assert.deepEqual(graphqlRequest('POST', '/graphql', 'application/json', body), { query: Q, operationName: null, variables: null });
  });

  test('a form-encoded body is read by its query, operationName and variables fields (it was priced as no GraphQL: 1 unit)', () => {
    const form = new URLSearchParams({ query: Q, operationName: 'Deep', variables: '{"n":5}' }).toString();
    assert.deepEqual(graphqlRequest('POST', '/graphql', 'application/x-www-form-urlencoded; charset=UTF-8', Buffer.from(form)), { query: Q, operationName: 'Deep', variables: { n: 5 } });
    assert.equal(graphqlRequest('POST', '/graphql', 'application/x-www-form-urlencoded', Buffer.from('a=1&b=2')), null);
  });

  test('a body that is not JSON, or JSON without a query, holds no GraphQL request', () => {
    assert.equal(graphqlRequest('POST', '/graphql', 'application/json', Buffer.from('not json')), null);
    assert.equal(graphqlRequest('POST', '/graphql', 'application/json', json({ q: 1 })), null);
    assert.equal(graphqlRequest('POST', '/graphql', 'application/json', Buffer.alloc(0)), null);
  });
});
