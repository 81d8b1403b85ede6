/**
 * A Redis that is slow but still answers within store.timeoutMs (a private redis-server kept busy by
 * back-to-back 40 ms Lua scripts from another connection), while decisions arrive faster than
 * maxInFlight × maxBatch per round trip. No call times out, so the breaker never opens: without a
 * bound on the queue, decisions piled up behind the calls in flight and waited longer and longer
 * (memory and latency growing without limit). The queue is bounded: a decision that finds it full is
 * decided by failMode at once (open: the local fallback; closed: 503) and counted in
 * stats().storeShed; refunds are never dropped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createEngine, type Engine, type Verdict } from '../../../sidecar/engine/index.js';
import { uniqueName } from '../../helpers/infra.js';
import { facts, policy } from '../../unit/engine/helpers.js';
import { startPrivateRedis, type PrivateRedis } from './privateRedis.js';

/** Keeps Redis busy for `ms` per call (a Lua busy loop: no DEBUG command needed). */
const BUSY = `local t = redis.call('TIME'); local s = t[1] * 1000 + t[2] / 1000
while true do t = redis.call('TIME'); if t[1] * 1000 + t[2] / 1000 - s >= tonumber(ARGV[1]) then return 1 end end`;

let server: PrivateRedis;
let redis: Redis;
let slower: Redis;
before(async () => {
  server = await startPrivateRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  slower = new Redis(server.url, { maxRetriesPerRequest: 1 });
  await Promise.all([redis.ping(), slower.ping()]);
});
after(async () => {
  redis?.disconnect();
  slower?.disconnect();
  await server?.stop();
});

/** Runs busy scripts back to back until the returned function is called. */
function slowDown(ms: number): () => Promise<void> {
  let on = true;
  const loop = (async () => {
    while (on) await slower.eval(BUSY, 0, ms);
  })();
  return async () => {
    on = false;
    await loop;
  };
}

interface Outcome {
  readonly took: number[];
  readonly verdicts: Verdict[];
  readonly unsettled: number;
}

/** `perTick` decisions every 5 ms for `durationMs`, then up to `graceMs` for the last ones to settle. */
async function overload(e: Engine, durationMs: number, perTick: number, graceMs: number): Promise<Outcome> {
  const took: number[] = [];
  const verdicts: Verdict[] = [];
  const all: Promise<void>[] = [];
  let n = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    for (let i = 0; i < perTick; i++, n++) {
      const started = performance.now();
      all.push(
        e.decide(facts({ ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` })).then((v) => {
          took.push(performance.now() - started);
          verdicts.push(v);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, graceMs))]);
  return { took, verdicts, unsettled: all.length - took.length };
}

function worst(took: readonly number[]): number {
  return Math.round(took.reduce((a, b) => Math.max(a, b), 0));
}

describe('a slow Redis that answers within the timeout, with decisions arriving faster than it decides them', () => {
  for (const failMode of ['open', 'closed'] as const) {
    it(`fail ${failMode}: the queue is bounded; decisions beyond it are decided by failMode at once and counted`, async (t) => {
      const e = createEngine({
        policy: policy(`store: { kind: redis, failMode: ${failMode}, timeout: 1s, keyPrefix: ${uniqueName('slowq')} }\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 1000000, window: 1h }\n`),
        service: 's',
        redis,
        batch: { maxInFlight: 1, maxBatch: 32 }, // at most 32 decisions a round trip of ~40 ms: ~800/s
      });
      assert.equal((await e.decide(facts())).kind, 'allow');
      const stop = slowDown(40);
      let out: Outcome;
      try {
        out = await overload(e, 1_500, 20, 2_000); // ~4,000 decisions/s for 1.5 s
      } finally {
        await stop();
      }
      const stats = e.stats!();
      await e.close(); // fails whatever is still queued, so nothing hangs
      t.diagnostic(`${out.took.length} decisions, slowest ${worst(out.took)} ms, ${stats.storeShed} shed, ${stats.storeDecisions} sent in ${stats.storeCalls} calls`);
      // the scenario: Redis answered every call in time (the breaker never opened)
      assert.equal(stats.storeErrors, 0, 'a store call timed out: Redis was not "slow but in time"');
      assert.equal(out.unsettled, 0, `${out.unsettled} decisions still waiting 2 s after the load stopped (slowest so far ${worst(out.took)} ms): the queue grew without bound`);
      // a decision waits for at most a few rounds (~40 ms each here), never for the whole backlog
      assert.ok(worst(out.took) < 1_000, `the slowest decision took ${worst(out.took)} ms`);
      assert.ok(stats.storeShed > 0, 'no decision was shed, though Redis decided fewer than arrived');
      const expected = failMode === 'open' ? 'allow' : 'unavailable';
      const kinds = new Set(out.verdicts.map((v) => v.kind));
      assert.ok([...kinds].every((k) => k === 'allow' || k === expected), [...kinds].join(','));
      if (failMode === 'open') assert.equal(stats.fallbackDecisions, stats.storeShed);
      else assert.equal(out.verdicts.filter((v) => v.kind === 'unavailable').length, stats.storeShed);
    });
  }
});
