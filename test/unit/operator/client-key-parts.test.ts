/**
 * Which client keys POST /api/blocks and /api/overrides take: the parts sidecars offer a block or
 * override to match — apiKey, user, ip, and the `header:<name>:<value>` / `route:<path>` parts of
 * rules' keys. A part of another kind (`tenant:acme`, `global:x`) or a `header:` part without its
 * value matched no request, yet was written and answered 201; it is now a 400 naming `body.client`
 * that writes nothing. A header name is written lower-case, as sidecars key it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, inMemoryApi } from './inMemoryApi.js';

const NOW = Date.UTC(2025, 2, 1);

test('a block or override on a part no sidecar names a request by is a 400 and writes nothing', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await inMemoryApi(name, NOW);
    for (const client of ['tenant:acme', 'global:all', 'ip:203.0.113.7|tenant:acme', 'header:x-tenant', 'route:search']) {
      const block = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client, ttl: '10m', reason: 'abuse' } });
      assert.equal(block.statusCode, 400, `${name} ${client}: ${block.body}`);
      assert.match(block.headers['content-type'] as string, /application\/problem\+json/);
      assert.equal(block.json().errors?.[0]?.path, 'body.client');
      const override = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client, multiplier: 0.5, ttl: '10m', reason: 'abuse' } });
      assert.equal(override.statusCode, 400, `${name} ${client}: ${override.body}`);
    }
    const bad = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: 'tenant:acme', ttl: '10m' } });
    assert.match(bad.json().detail, /tenant: is not a part sidecars name a request by/);
    const state = await plane.read();
    assert.equal(state.blocks.size, 0, name);
    assert.equal(state.overrides.size, 0, name);
    await app.close();
  }
});

test('header: and route: clients are taken, the header name lower-cased as sidecars key it', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await inMemoryApi(name, NOW);
    const block = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: 'header:X-Tenant:Acme', ttl: '10m', reason: 'tenant abuse' } });
    assert.equal(block.statusCode, 201, `${name}: ${block.body}`);
    const route = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: 'search', client: 'route:/search/expensive', limit: 1, ttl: '10m' } });
    assert.equal(route.statusCode, 201, `${name}: ${route.body}`);
    const any = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: 'search', client: '*', multiplier: 0.5, ttl: '10m' } });
    assert.equal(any.statusCode, 201, `${name}: ${any.body}`);
    const state = await plane.read();
    assert.deepEqual([...state.blocks.keys()], ['header:x-tenant:Acme'], name);
    assert.deepEqual([...state.overrides.keys()].sort(), ['search|*', 'search|route:/search/expensive'], name);
    // removed under either spelling of the header name
    const removed = await app.inject({ method: 'DELETE', url: `/api/blocks?client=${encodeURIComponent('header:x-TENANT:Acme')}`, headers });
    assert.equal(removed.statusCode, 200, `${name}: ${removed.body}`);
    assert.equal((await plane.read()).blocks.size, 0, name);
    await app.close();
  }
});
