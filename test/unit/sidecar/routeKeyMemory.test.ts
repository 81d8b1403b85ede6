/**
 * The memory store's bound is in keys (`store.maxKeys`), so a key must cost about its own length.
 * The identity layer cut the path out of the request target (`url.slice(0, ?)`), and V8 keeps a
 * slice as a view of the whole string: a rule keyed by `route` stored a key that held its request
 * target alive, a 15 KB query included (15 KB a key: 1.5 GB at the default 100 000 keys).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { parsePolicy } from '../../../models/policy/index.js';
import { IdentityResolver } from '../../../sidecar/identity/index.js';
import { createEngine } from '../../../sidecar/engine/index.js';
import { ManualClock } from '../engine/helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

test('a route-keyed rule holds each path it keys, not the request target it was cut from (distinct paths, 15 KB queries)', async () => {
  const parsed = parsePolicy('version: 1\nstore: { kind: memory, maxKeys: 100000 }\nrules:\n  - { id: r, key: [route], algorithm: fixed-window, limit: 10, window: 1m }\n', { hashKey: undefined });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const resolver = new IdentityResolver(parsed.policy, null, {});
  const engine = createEngine({ policy: parsed.policy, service: 's', clock: new ManualClock() });
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: '203.0.113.7' });
  const decide = async (url: string): Promise<void> => {
    const req = { socket, headers: {}, headersDistinct: {}, rawHeaders: [], url, method: 'GET' } as unknown as IncomingMessage;
    const id = await resolver.resolve(req);
    const v = await engine.decide(id.facts);
    assert.equal(v.kind, 'allow');
  };
  // warm the request path up (optimised code must copy too)
  for (let i = 0; i < 10_000; i++) await decide(`/warm/items/${String(i).padStart(8, '0')}?q=${i}`);
  const N = 4_000;
  const filler = 'x'.repeat(15_000);
  gc();
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < N; i++) await decide(`/api/v1/items/${String(i).padStart(8, '0')}?q=${filler}${i}`);
  gc();
  gc();
  const after = process.memoryUsage();
  assert.equal(engine.stats!().keys, 10_000 + N, 'every path is a key of its own');
  const perKey = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / N;
  // a key and its entry are a few hundred bytes; before the fix each one held its 15 KB request target
  assert.ok(perKey < 2_000, `${Math.round(perKey)} B held per key`);
  await engine.close?.();
});
