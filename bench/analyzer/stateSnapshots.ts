/**
 * Analyzer state snapshots (analyzer/state/): what they cost. Not part of the test suite.
 *
 * - size: bytes of one client's snapshot — an established API-key client after 2 h of event time
 *   (hour-of-week profile, key identities, series), the same after 14 minutes, an IP client, and
 *   the codec's upper bound.
 * - write: `--clients` (default 10,000) established clients encoded and written to Redis the way
 *   the periodic flush does (slices of 500, SET PX per key): encode CPU, Redis wall time, bytes —
 *   i.e. the cost of one flush per minute.
 * - restore: the same clients looked up by a fresh Analyzer on their first event (batched MGET,
 *   256 per lookup, 4 in flight): lookup latency per batch (p50/p99), decode µs per client, and
 *   the time from ingesting one event per client until every client was restored.
 *
 *   node --import tsx bench/analyzer/stateSnapshots.ts [--clients N]
 *
 * Needs REDIS_URL (or .infra.env); keys go under a unique prefix and are deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryControlPlane } from '../../models/controlPlane.js';
import type { CallEvent } from '../../models/events.js';
import { parsePolicy } from '../../models/policy/index.js';
import { Analyzer } from '../../analyzer/analyzer.js';
import type { ClientState } from '../../analyzer/clientState.js';
import { HourOfWeekProfile } from '../../analyzer/baselines/seasonal.js';
import { loadSeriesFactory } from '../../analyzer/detectors/seriesScorer.js';
import { MemoryReportStore } from '../../analyzer/reports/memoryStore.js';
import { ByteWriter } from '../../analyzer/state/binary.js';
import { RedisStateStore } from '../../analyzer/state/redisStateStore.js';
import { decodeClientState, encodeClientState, maxClientSnapshotBytes } from '../../analyzer/state/snapshotCodec.js';
import { MemoryStateStore } from '../../analyzer/state/stateStore.js';
import { infraEnv } from '../machine.js';

const POLICY = parsePolicy('version: 1\nrules:\n  - { id: all, key: [ip], algorithm: fixed-window, limit: 1000, window: 60s }\nanalyzer:\n  maxClients: 200000\n');
if (!POLICY.ok) throw new Error('policy');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function redisUrl(): string {
  const url = infraEnv().REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set (npm run infra:up writes .infra.env)');
  return url;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

/** States of a few kinds of client after `minutes` of event time (10 of them: the warm-up, then learning). */
async function learned(minutes: number): Promise<{ analyzer: Analyzer; states: Map<string, ClientState> }> {
  const T0 = Date.UTC(2025, 0, 6, 8);
  let now = T0;
  const analyzer = new Analyzer({ policy: POLICY.ok ? POLICY.policy : (undefined as never), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => now, series: await loadSeriesFactory(), state: new MemoryStateStore() });
  const ev = (ts: number, client: string, k: number): CallEvent => ({ v: 1, ts, pod: 'p', service: 'api', method: 'GET', route: `/api/items/${k % 40}`, status: 200, latencyMs: 20, bytesIn: 100, bytesOut: 900, ip: `10.0.0.${k % 3}`, client, user: null, uaHash: `ua-${k % 3}`, decision: 'allowed', rule: null, cost: 1 });
  for (let s = 0; s < minutes * 60; s++) {
    const t = now;
    const batch: CallEvent[] = [];
    for (let k = 0; k < 3; k++) batch.push(ev(t + k * 100, 'apiKey:00000000000000aa', s * 3 + k));
    if (s % 2 === 0) batch.push(ev(t + 50, 'ip:10.1.2.3', s));
    // the tier's population: a few more clients
    for (let c = 0; c < 8; c++) if ((s + c) % 3 === 0) batch.push(ev(t + 200 + c * 10, `apiKey:${c.toString(16).padStart(16, '0')}`, s + c));
    analyzer.ingest(batch);
    now = t + 1_000;
    await analyzer.tick(now);
  }
  return { analyzer, states: new Map(analyzer.takeDirty().map((st) => [st.key, st])) };
}

async function main(): Promise<void> {
  const n = arg('--clients', 10_000);
  const series = await loadSeriesFactory();
  const out: Record<string, unknown> = {};

  // ---------------------------------------------------------------- sizes
  const twoHours = await learned(120);
  const early = await learned(14);
  const twoHourClient = twoHours.states.get('apiKey:00000000000000aa')!;
  const twoHourBytes = encodeClientState(twoHourClient, series.name, Date.now());
  // a client seen for a week: every hour-of-week bucket of its profile learned
  const weekDecoded = decodeClientState(twoHourBytes, twoHourClient.key, 0, twoHours.analyzer.options, series, 'free');
  if (!weekDecoded.ok) throw new Error(weekDecoded.error);
  const full = weekDecoded.value.state;
  full.seasonal ??= new HourOfWeekProfile(0.05, 20);
  for (let h = 0; h < 168; h++) for (let k = 0; k < 20; k++) full.seasonal.update(Date.UTC(2025, 0, 6) + h * 3_600_000 + 60_000 + k, 3 + Math.sin(h));
  const fullBytes = encodeClientState(full, series.name, Date.now());
  out.size = {
    keyed_week_bytes: fullBytes.length,
    keyed_2h_bytes: twoHourBytes.length,
    keyed_14min_bytes: encodeClientState(early.states.get('apiKey:00000000000000aa')!, series.name, Date.now()).length,
    ip_2h_bytes: encodeClientState(twoHours.states.get('ip:10.1.2.3')!, series.name, Date.now()).length,
    upper_bound_bytes: maxClientSnapshotBytes(twoHours.analyzer.options, full.series!.serialize().length),
    in_memory_state_bytes_week: full.heapBytes,
  };

  // ---------------------------------------------------------------- n established clients
  const states: ClientState[] = [];
  for (let i = 0; i < n; i++) {
    const key = `apiKey:${i.toString(16).padStart(16, '0')}`;
    const d = decodeClientState(fullBytes, key, 0, twoHours.analyzer.options, series, 'free');
    if (!d.ok) throw new Error(d.error);
    states.push(d.value.state);
  }
  const w = new ByteWriter(16_384);
  let t = performance.now();
  const encoded = states.map((st) => [st.key, encodeClientState(st, series.name, Date.now(), w)] as const);
  const encodeMs = performance.now() - t;
  const bytes = encoded.reduce((sum, [, b]) => sum + b.length, 0);

  const redis = new Redis(redisUrl(), { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  const prefix = `rwbench:state:${randomBytes(4).toString('hex')}`;
  const store = new RedisStateStore(redis, { prefix, group: 'bench', ttlMs: 3_600_000 });
  try {
    t = performance.now();
    for (let i = 0; i < encoded.length; i += 500) await store.putClients(encoded.slice(i, i + 500));
    const writeMs = performance.now() - t;
    const memory = await redis.memory('USAGE', store.keys.client(states[0]!.key));
    out.write = {
      clients: n,
      encode_cpu_ms: Math.round(encodeMs),
      encode_us_per_client: Math.round((encodeMs * 1000) / n),
      redis_write_ms: Math.round(writeMs),
      megabytes: Math.round(bytes / 1e4) / 100,
      per_minute_at_60s: `${Math.round(bytes / 1e4) / 100} MB written, ${Math.round(encodeMs + writeMs)} ms of which ${Math.round(encodeMs)} ms CPU`,
      redis_memory_usage_bytes_per_key: memory,
    };

    // ---------------------------------------------------------------- restore through a fresh Analyzer
    const lookups: number[] = [];
    const timed = { ...store, ttlMs: store.ttlMs, keys: store.keys, getClients: async (c: readonly string[]) => {
      const s = performance.now();
      const r = await store.getClients(c);
      lookups.push(performance.now() - s);
      return r;
    }, putClients: (e: ReadonlyArray<readonly [string, Uint8Array]>) => store.putClients(e), getGroup: () => store.getGroup(), putGroup: (a: number | null, b: ReadonlyArray<readonly [string, Uint8Array]>) => store.putGroup(a, b) };
    let clock = Date.now();
    const b = new Analyzer({ policy: POLICY.ok ? POLICY.policy : (undefined as never), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => clock, series, state: timed, restoreLimits: { maxPending: n + 1, maxBuffered: 10 * n } });
    const events: CallEvent[] = states.map((st, i) => ({ v: 1, ts: clock + (i % 1000), pod: 'p', service: 'api', method: 'GET', route: '/api/items/1', status: 200, latencyMs: 20, bytesIn: 100, bytesOut: 900, ip: '10.0.0.1', client: st.key, user: null, uaHash: 'ua-0', decision: 'allowed', rule: null, cost: 1 }));
    t = performance.now();
    for (let i = 0; i < events.length; i += 1_000) b.ingest(events.slice(i, i + 1_000));
    const ingestMs = performance.now() - t;
    await b.tick(clock);
    const allMs = performance.now() - t;
    const metric = await b.metrics.registry.getSingleMetricAsString('ratewarden_state_restores_total');
    t = performance.now();
    for (let i = 0; i < 1_000; i++) decodeClientState(fullBytes, 'apiKey:x', 0, twoHours.analyzer.options, series, 'free');
    const decodeUs = performance.now() - t; // ms per 1,000 = µs per client
    clock += 1;
    out.restore = {
      clients: n,
      ingest_ms: Math.round(ingestMs),
      all_restored_ms: Math.round(allMs),
      lookups: lookups.length,
      lookup_ms_p50: Math.round(quantile(lookups, 0.5) * 10) / 10,
      lookup_ms_p99: Math.round(quantile(lookups, 0.99) * 10) / 10,
      decode_us_per_client: Math.round(decodeUs),
      restored: Number(/result="restored"\} (\d+)/.exec(metric)?.[1] ?? 0),
    };
  } finally {
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 1_000) await redis.del(...keys.slice(i, i + 1_000));
    redis.disconnect();
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

await main();
