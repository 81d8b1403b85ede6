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
    for (const client of ['ip:not-an-ip', 'apiKey:k1|ip:203.0.113.300', 'ip:203.0.113.0/24']) {
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
    for (const client of ['ip:203.0.113.7', 'apiKey:k1|ip:2001:db8::1', 'user:alice']) {
      const ok = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client, ttl: '10m', reason: 'abuse' } });
      assert.equal(ok.statusCode, 201, `${name} ${client}: ${ok.body}`);
    }
    await app.close();
  }
});
