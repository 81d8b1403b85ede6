/**
 * Control-plane propagation, end to end: three real `ratewarden sidecar` processes share the real
 * Redis (a unique RW_CTL_PREFIX); this process writes a block with RedisControlPlane.write, as the
 * analyzer does, and measures for each sidecar the time from the start of the write until a request
 * for that client is answered 403. Each block names a fresh API key, so every measurement starts from
 * "allowed". Target: p99 < 50 ms.
 *
 * Resolution: each sidecar is polled by a closed loop (one request in flight, keep-alive), so the
 * first 403 arrives at most one poll round trip after the block took effect; the figures are upper
 * bounds by that much, and `poll_rtt_p50_ms` states it. The sidecars' own
 * `ratewarden_control_apply_seconds` (decode + apply, no network) is read from /metrics for contrast.
 *
 *   node --import tsx bench/propagation/run.ts [--blocks 200]
 */
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { Redis } from 'ioredis';
import { RedisControlPlane } from '../../models/controlPlane.js';
import { controlKeys } from '../../models/control.js';
import { apiKeyId } from '../../models/clientKey.js';
import { infraEnv } from '../machine.js';
import { percentile, round } from '../report/stats.js';
import { metricValue, scrape, startSidecar, startUpstream, type RunningProcess } from './sidecarProcess.js';

export interface PropagationOptions {
  /** Blocks written (default 200; at least 100 for a p99). */
  readonly blocks?: number;
  readonly sidecars?: number;
  readonly log?: (line: string) => void;
}

export interface PropagationResult {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  /** Time until all sidecars answered 403, per block. */
  readonly all_p50: number | null;
  readonly all_p99: number | null;
  readonly samples: number;
  readonly blocks: number;
  readonly sidecars: number;
  /** One poll's round trip (the measurement's resolution). */
  readonly poll_rtt_p50_ms: number | null;
  /** RedisControlPlane.write round trip (HSET + INCR + PUBLISH in one script). */
  readonly write_p50_ms: number | null;
  /** Mean in-process decode + apply time from the sidecars' control_apply_seconds. */
  readonly apply_mean_ms: number | null;
  readonly timeouts: number;
  readonly note: string;
}

const POLICY = `version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: memory }
rules:
  - { id: bench, key: [apiKey], algorithm: fixed-window, limit: 1000000000, window: 1s }
`;

const TIMEOUT_MS = 2_000;

export async function run(opts: PropagationOptions = {}): Promise<PropagationResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const blocks = opts.blocks ?? 200;
  const n = opts.sidecars ?? 3;
  const env = infraEnv();
  if (!env.REDIS_URL) throw new Error('REDIS_URL is not set and .infra.env has none (run npm run infra:up)');
  const prefix = `rwbench:prop:${Date.now().toString(36)}`;
  const hashKey = process.env.RW_HASH_KEY || undefined;
  const procs: RunningProcess[] = [];
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1 });
  const keys = controlKeys(prefix);
  const plane = new RedisControlPlane(redis, keys);
  const pools: Pool[] = [];
  try {
    const upstream = await startUpstream();
    procs.push(upstream);
    const sidecars = await Promise.all(Array.from({ length: n }, () => startSidecar(POLICY, upstream.url, { REDIS_URL: env.REDIS_URL!, RW_CTL_PREFIX: prefix })));
    procs.push(...sidecars);
    for (const s of sidecars) pools.push(new Pool(s.url, { connections: 1, pipelining: 1 }));
    log(`propagation: ${n} sidecars on Redis ${env.REDIS_URL}, prefix ${prefix}, ${blocks} blocks`);

    const get = async (pool: Pool, key: string): Promise<number> => {
      const r = await pool.request({ method: 'GET', path: '/p', headers: { 'x-api-key': key } });
      await r.body.dump();
      return r.statusCode;
    };
    // warm the connections and the JIT
    for (let i = 0; i < 200; i++) await Promise.all(pools.map((p) => get(p, `warm-${i % 5}`)));

    const samples: number[] = [];
    const allSamples: number[] = [];
    const rtts: number[] = [];
    const writes: number[] = [];
    let timeouts = 0;
    for (let b = 0; b < blocks; b++) {
      const key = `${prefix}-k${b}`;
      const client = `apiKey:${apiKeyId(key, hashKey)}`;
      // every sidecar allows the client before the block
      for (const p of pools) if ((await get(p, key)) !== 200) throw new Error(`sidecar refused ${client} before its block`);
      let t0 = 0;
      const pollers = pools.map(async (pool) => {
        for (;;) {
          const sent = performance.now();
          const status = await get(pool, key);
          const now = performance.now();
          if (t0 > 0 && status === 403) return now - t0;
          if (status === 200 && b % 4 === 0) rtts.push(now - sent);
          if (t0 > 0 && now - t0 > TIMEOUT_MS) return null;
        }
      });
      await new Promise((r) => setTimeout(r, 2)); // pollers running before the write
      t0 = performance.now();
      await plane.write('block', client, { until: Date.now() + 120_000, reason: 'propagation benchmark' });
      writes.push(performance.now() - t0);
      const times = await Promise.all(pollers);
      for (const t of times) {
        if (t === null) timeouts++;
        else samples.push(t);
      }
      if (times.every((t) => t !== null)) allSamples.push(Math.max(...(times as number[])));
      await new Promise((r) => setTimeout(r, 5));
    }

    let applySum = 0;
    let applyCount = 0;
    for (const s of sidecars) {
      const text = await scrape(s.admin!);
      applySum += metricValue(text, 'ratewarden_control_apply_seconds_sum') ?? 0;
      applyCount += metricValue(text, 'ratewarden_control_apply_seconds_count') ?? 0;
    }
    const rttP50 = percentile(rtts, 50);
    const result: PropagationResult = {
      p50: round(percentile(samples, 50)),
      p99: round(percentile(samples, 99)),
      max: samples.length ? round(Math.max(...samples)) : null,
      all_p50: round(percentile(allSamples, 50)),
      all_p99: round(percentile(allSamples, 99)),
      samples: samples.length,
      blocks,
      sidecars: n,
      poll_rtt_p50_ms: round(rttP50),
      write_p50_ms: round(percentile(writes, 50)),
      apply_mean_ms: applyCount ? round((applySum / applyCount) * 1000, 4) : null,
      timeouts,
      note: `write start → first 403 received, per sidecar; an upper bound by at most one poll round trip (p50 ${round(rttP50 ?? NaN, 3)} ms)`,
    };
    log(`  p50 ${result.p50} ms, p99 ${result.p99} ms, max ${result.max} ms over ${result.samples} samples (all ${n}: p99 ${result.all_p99} ms); write ${result.write_p50_ms} ms, poll rtt ${result.poll_rtt_p50_ms} ms, apply ${result.apply_mean_ms} ms, ${timeouts} timeouts`);
    return result;
  } finally {
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
    await Promise.all(procs.map((p) => p.stop().catch(() => undefined)));
    await redis.del(keys.overrides, keys.blocks, keys.load, keys.seq).catch(() => undefined);
    redis.disconnect();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf('--blocks');
  run(at > 0 ? { blocks: Number(process.argv[at + 1]) } : {}).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
