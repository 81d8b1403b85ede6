/**
 * A hybrid client key names a set of identities, and sidecars match it in any part order: the
 * operator API writes, finds and removes it in one spelling — the sidecars' part order (apiKey,
 * user, ip; other parts after them, in the order given) — so `ip:…|apiKey:…` and `apiKey:…|ip:…`
 * are one block, and either spelling unblocks it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { BACKENDS, inMemoryApi } from '../operator/inMemoryApi.js';

const NOW = Date.UTC(2025, 2, 1);
const KEY = 'apiKey:0123456789abcdef';

const api = (name: (typeof BACKENDS)[number]) => inMemoryApi(name, NOW);

test('a block written ip-first is the sidecars’ apiKey|ip block, and either spelling removes it', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await api(name);
    const post = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: `ip:203.0.113.7|${KEY}`, ttl: '10m', reason: 'abuse' } });
    assert.equal(post.statusCode, 201, post.body);
    assert.deepEqual([...(await plane.read()).blocks.keys()], [`${KEY}|ip:203.0.113.7`], name);
    const again = await app.inject({ method: 'POST', url: '/api/blocks', headers, payload: { client: `${KEY}|ip:203.0.113.7`, ttl: '10m', reason: 'abuse' } });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal((await plane.read()).blocks.size, 1, `${name}: one client, one block`);
    const del = await app.inject({ method: 'DELETE', url: `/api/blocks?client=${encodeURIComponent(`ip:203.0.113.7|${KEY}`)}`, headers });
    assert.equal(del.statusCode, 200, `${name}: ${del.body}`);
    assert.equal((await plane.read()).blocks.size, 0, name);
    await app.close();
  }
});

test('a block written in the sidecars’ order is removed by the ip-first spelling (no 404)', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await api(name);
    await plane.write('block', `${KEY}|user:alice|ip:203.0.113.7`, { until: NOW + 600_000, reason: 'abuse' });
    const del = await app.inject({ method: 'DELETE', url: `/api/blocks?client=${encodeURIComponent(`ip:203.0.113.7|user:alice|${KEY}`)}`, headers });
    assert.equal(del.statusCode, 200, `${name}: ${del.body}`);
    assert.equal((await plane.read()).blocks.size, 0, name);
    await app.close();
  }
});

test('overrides: the field is written in the sidecars’ order; other parts follow in the order given', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await api(name);
    const post = await app.inject({ method: 'POST', url: '/api/overrides', headers, payload: { rule: '*', client: `header:x-b:2|ip:2001:db8::1|header:x-a:1|user:bob`, multiplier: 0.5, ttl: '10m', reason: 'abuse' } });
    assert.equal(post.statusCode, 201, post.body);
    assert.deepEqual([...(await plane.read()).overrides.keys()], ['*|user:bob|ip:2001:db8::/64|header:x-b:2|header:x-a:1'], name);
    const del = await app.inject({ method: 'DELETE', url: `/api/overrides?rule=*&client=${encodeURIComponent('ip:2001:db8::9|user:bob|header:x-b:2|header:x-a:1')}`, headers });
    assert.equal(del.statusCode, 200, `${name}: ${del.body}`);
    await app.close();
  }
});

test('the analyzer’s own action on a hybrid client from an event in another order is written, and removed, in the same spelling', async () => {
  for (const name of BACKENDS) {
    const { app, plane, headers } = await api(name);
    const actuator = new Actuator(plane);
    await actuator.apply(`ip:203.0.113.7|${KEY}`, { kind: 'block', ttlMs: 600_000 }, NOW, 'anomaly');
    await actuator.apply(`ip:203.0.113.7|${KEY}`, { kind: 'tighten', multiplier: 0.2, ttlMs: 600_000 }, NOW, 'anomaly');
    const state = await plane.read();
    assert.deepEqual([...state.blocks.keys()], [`${KEY}|ip:203.0.113.7`]);
    assert.deepEqual([...state.overrides.keys()], [`*|${KEY}|ip:203.0.113.7`]);
    const client = encodeURIComponent(`ip:203.0.113.7|${KEY}`); // the spelling the event (and its report) carried
    const del = await app.inject({ method: 'DELETE', url: `/api/blocks?client=${client}`, headers });
    assert.equal(del.statusCode, 200, `${name}: ${del.body}`);
    const delo = await app.inject({ method: 'DELETE', url: `/api/overrides?rule=*&client=${client}`, headers });
    assert.equal(delo.statusCode, 200, `${name}: ${delo.body}`);
    assert.equal((await plane.read()).blocks.size + (await plane.read()).overrides.size, 0);
    await app.close();
  }
});
