/**
 * POST /api/blocks and /api/overrides refuse a client key no sidecar could ever form — an `ip:` part
 * that is not an address, or a range — with a 400 problem naming `body.client`, and write nothing.
 * Before, `ip:not-an-ip` was written and answered 201: a block that matched no request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, inMemoryApi } from './inMemoryApi.js';

const NOW = Date.UTC(2025, 2, 1);

test('a block or override on an ip: part that is no address is a 400 and writes nothing', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await inMemoryApi(name, NOW);
    for (const client of ['ip:not-an-ip', 'apiKey:00000000000000a1|ip:203.0.113.300', 'ip:203.0.113.0/24']) {
      const block = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client, ttl: '10m', reason: 'abuse' } });
      assert.equal(block.statusCode, 400, `${name} ${client}: ${block.body}`);
      assert.match(block.headers['content-type'] as string, /application\/problem\+json/);
      assert.equal(block.json().errors?.[0]?.path, 'body.client');
      const override = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client, multiplier: 0.5, ttl: '10m', reason: 'abuse' } });
      assert.equal(override.statusCode, 400, `${name} ${client}: ${override.body}`);
    }
    const state = await plane.read();
    assert.equal(state.blocks.size, 0, name);
    assert.equal(state.overrides.size, 0, name);
    // keys sidecars do form are still taken, non-ip parts as given
    for (const client of ['ip:203.0.113.7', 'apiKey:00000000000000a1|ip:2001:db8::1', 'user:alice']) {
      const ok = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client, ttl: '10m', reason: 'abuse' } });
      assert.equal(ok.statusCode, 201, `${name} ${client}: ${ok.body}`);
    }
    await app.close();
  }
});

test('a block or override on a raw API key (an apiKey: part that is no key id) is a 400 that does not echo the key, and writes nothing', async () => {
  // sidecars only ever form apiKey:<16 hex>: a raw key matched no request, and was stored and published in clear
  const secret = 'sk_live_S3CRET_0f1e2d3c4b5a6978';
  for (const name of BACKENDS) {
    const { app, plane, headers } = await inMemoryApi(name, NOW);
    for (const client of [`apiKey:${secret}`, `apiKey:${secret}|ip:203.0.113.7`, 'apiKey:*', 'apiKey:0123456789ABCDEF', 'apiKey:0123456789abcdef0']) {
      const block = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client, ttl: '10m', reason: 'leaked key' } });
      assert.equal(block.statusCode, 400, `${name} ${client}: ${block.body}`);
      assert.equal(block.json().errors?.[0]?.path, 'body.client');
      assert.match(block.json().detail, /key id.*key-id/);
      assert.ok(!block.body.includes(secret), block.body);
      const override = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client, limit: 0, ttl: '10m', reason: 'leaked key' } });
      assert.equal(override.statusCode, 400, `${name} ${client}: ${override.body}`);
      assert.ok(!override.body.includes(secret), override.body);
    }
    const state = await plane.read();
    assert.equal(state.blocks.size, 0, name);
    assert.equal(state.overrides.size, 0, name);
    const ok = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: 'apiKey:0123456789abcdef', ttl: '10m', reason: 'leaked key' } });
    assert.equal(ok.statusCode, 201, `${name}: ${ok.body}`);
    await app.close();
  }
});

test('a block or override reason is stored as notes are: control and bidi-override characters become spaces', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await inMemoryApi(name, NOW);
    const block = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: 'ip:203.0.113.7', ttl: '10m', reason: 'abuse\u0000\u001b[31m\u202etxt.exe' } });
    assert.equal(block.statusCode, 201, `${name}: ${block.body}`);
    const override = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client: 'ip:203.0.113.8', multiplier: 0.5, ttl: '10m', reason: '\u0007\u200f' } });
    assert.equal(override.statusCode, 201, `${name}: ${override.body}`);
    const state = await plane.read();
    assert.equal(state.blocks.get('ip:203.0.113.7')?.reason, 'abuse  [31m txt.exe', name);
    assert.equal([...state.overrides.values()][0]?.reason, 'override by an operator', `${name}: nothing printable left is the default`);
    await app.close();
  }
});

test('an override limit over 1e12 is a 400 and writes nothing (sidecars refuse it: a limit that large overflows the stores)', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await inMemoryApi(name, NOW);
    for (const limit of [1e13, 1e300]) {
      const r = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client: 'user:alice', limit, ttl: '10m', reason: 'raise' } });
      assert.equal(r.statusCode, 400, `${name} ${limit}: ${r.body}`);
      assert.equal(r.json().errors?.[0]?.path, 'body.limit');
    }
    assert.equal((await plane.read()).overrides.size, 0, name);
    const ok = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client: 'user:alice', limit: 1e12, ttl: '10m', reason: 'raise' } });
    assert.equal(ok.statusCode, 201, `${name}: ${ok.body}`);
  }
});
