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

  test('JSON without a query holds no GraphQL request (one unit: a persisted-query hash); no body neither', () => {
    assert.equal(graphqlRequest('POST', '/graphql', 'application/json', json({ extensions: { persistedQuery: { sha256Hash: 'ab' } } })), null);
    assert.equal(graphqlRequest('POST', '/graphql', 'application/json', Buffer.alloc(0)), null);
    assert.equal(graphqlRequest('GET', '/graphql', undefined, null), null);
  });

  test('a body the server would read differently is unpriceable (refused), not one unit', () => {
    const deep = json({ query: Q });
    const reasons = [
      graphqlRequest('POST', '/graphql', 'application/json', Buffer.from('not json')),
      graphqlRequest('POST', '/graphql', 'application/json', deep, 'gzip'), // servers inflate it
      graphqlRequest('POST', '/graphql', 'application/json; charset=utf-16le', Buffer.from(JSON.stringify({ query: Q }), 'utf16le')),
      graphqlRequest('POST', '/graphql?query=' + encodeURIComponent(Q), 'application/json', json({ query: '{ a }' })), // servers may prefer the URL's
      graphqlRequest('POST', '/graphql', 'multipart/form-data; boundary=x', Buffer.from('--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n--x--')),
    ].map((g) => g?.unpriceable);
    for (const r of reasons) assert.match(r ?? '', /cannot be priced/);
    // what servers read as UTF-8 and uncompressed still is priced
    assert.equal(graphqlRequest('POST', '/graphql', 'application/json; charset=UTF-8', deep, 'identity')?.query, Q);
  });
});
