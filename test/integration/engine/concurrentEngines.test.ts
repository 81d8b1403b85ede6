/**
 * Exactness across sidecars: 8 engines, each with its own Redis connection, fire 10,000 concurrent
 * attempts at one key with a limit of 1,000 — every exact algorithm admits exactly 1,000, on a single
 * Redis node and on the 3-primary Redis Cluster. (All engines use one fixed injected time so no
 * window edge or refill can legitimately change the count; that scripts use the server's clock is
 * shown separately with skewed sidecar clocks.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { createEngine, type Engine } from '../../../sidecar/engine/index.js';
import { connectCluster, connectRedis, uniqueName } from '../../helpers/infra.js';
import { ManualClock, facts, policy } from '../../unit/engine/helpers.js';

const ENGINES = 8;
const ATTEMPTS = 10_000;
const LIMIT = 1_000;

const RULES: Record<string, string> = {
  'fixed window': `{ id: r, key: [global], algorithm: fixed-window, limit: ${LIMIT}, window: 1h }`,
  'sliding window log': `{ id: r, key: [global], algorithm: sliding-window-log, limit: ${LIMIT}, window: 1h }`,
  'sliding window counter': `{ id: r, key: [global], algorithm: sliding-window-counter, limit: ${LIMIT}, window: 1h }`,
  'token bucket': `{ id: r, key: [global], algorithm: token-bucket, rate: ${LIMIT}/d, burst: ${LIMIT} }`,
  'leaky bucket': `{ id: r, key: [global], algorithm: leaky-bucket, rate: ${LIMIT}/d, burst: ${LIMIT} }`,
  concurrency: `{ id: r, key: [global], algorithm: concurrency, limit: ${LIMIT}, timeout: 1m }`,
};

type Client = Redis | Cluster;

async function storm(clients: Client[], rule: string): Promise<number> {
  const prefix = uniqueName('storm');
  const clock = new ManualClock(1_700_000_123_456);
  const p = policy(`store: { kind: redis, keyPrefix: ${prefix}, timeout: 5s, failMode: closed }\nrules:\n  - ${rule}\n`);
  const engines: Engine[] = clients.map((redis) => createEngine({ policy: p, service: 's', clock, redis, redisTime: 'clock' }));
  const verdicts = await Promise.all(
    Array.from({ length: ATTEMPTS }, (_, i) => engines[i % ENGINES]!.decide(facts({ ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }))),
  );
  await Promise.all(engines.map((e) => e.close()));
  const unexpected = verdicts.filter((v) => v.kind !== 'allow' && v.kind !== 'limit');
  assert.equal(unexpected.length, 0, `unexpected verdicts: ${unexpected[0]?.kind} ${unexpected[0]?.detail ?? ''}`);
  return verdicts.filter((v) => v.kind === 'allow').length;
}

describe('8 engines on one Redis node', () => {
  const clients: Redis[] = [];
  before(async () => {
    for (let i = 0; i < ENGINES; i++) clients.push(await connectRedis());
  });
  after(() => clients.forEach((c) => c.disconnect()));

  for (const [name, rule] of Object.entries(RULES)) {
    it(`${name}: 10,000 concurrent attempts admit exactly 1,000`, async () => {
      assert.equal(await storm(clients, rule), LIMIT);
    });
  }

  it('shares one window between sidecars whose clocks are a day apart (the scripts use Redis time)', async () => {
    // by their own clocks the two would be in different daily windows and admit 10 each
    const prefix = uniqueName('skew');
    const p = policy(`store: { kind: redis, keyPrefix: ${prefix} }\nrules:\n  - { id: r, key: [global], algorithm: fixed-window, limit: 10, window: 1d }\n`);
    const early = createEngine({ policy: p, service: 's', clock: new ManualClock(Date.now() - 86_400_000), redis: clients[0]! });
    const late = createEngine({ policy: p, service: 's', clock: new ManualClock(Date.now() + 86_400_000), redis: clients[1]! });
    const vs = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? early : late).decide(facts())));
    assert.equal(vs.filter((v) => v.kind === 'allow').length, 10);
  });

  it('connects 8 separate connections (one per engine)', async () => {
    const names = new Set(await Promise.all(clients.map((c) => c.client('ID'))));
    assert.equal(names.size, ENGINES);
  });
});

describe('8 engines on the Redis Cluster', () => {
  const clients: Cluster[] = [];
  before(async () => {
    for (let i = 0; i < ENGINES; i++) clients.push(await connectCluster());
  });
  after(() => clients.forEach((c) => c.disconnect()));

  for (const [name, rule] of Object.entries(RULES)) {
    it(`${name}: 10,000 concurrent attempts admit exactly 1,000`, async () => {
      assert.equal(await storm(clients, rule), LIMIT);
    });
  }
});

