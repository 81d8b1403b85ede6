/**
 * From the parts' rows (medians over repetitions) to results.json's `cases` and `engine`: stable
 * names, every expected peer present (a peer that could not run is a row saying why, never
 * dropped), and ratios against the peers measured in the same run.
 */
import type { EngineCaseResult, HttpCaseResult, Num, PartStatus } from './shape.js';
import { median, ratio, round } from './stats.js';

/** Peer ids used as `ratio_vs` keys → the sidecar bench's case names. */
export const HTTP_PEERS = {
  upstream: 'upstream direct',
  http_proxy: '@fastify/http-proxy (no limiter)',
  fastify_rate_limit: '@fastify/http-proxy + @fastify/rate-limit (Redis)',
  rate_limiter_flexible: '@fastify/http-proxy + rate-limiter-flexible (Redis)',
  nginx: 'nginx limit_req',
} as const;

/** The closed-loop (maximum throughput) cases every full sidecar run is expected to produce, in order. */
export const HTTP_CASES = [
  HTTP_PEERS.upstream,
  HTTP_PEERS.http_proxy,
  'ratewarden (no rules)',
  'ratewarden (memory store)',
  'ratewarden (Redis + Kafka events)',
  HTTP_PEERS.fastify_rate_limit,
  HTTP_PEERS.rate_limiter_flexible,
  HTTP_PEERS.nginx,
] as const;

/** ratewarden with the memory store and events to Kafka: the events' share of the Redis + Kafka case. */
export const MEMORY_KAFKA_CASE = 'ratewarden (memory store + Kafka events)';
/** ratewarden with the limit leased from Redis (scope global-leased) and events to Kafka: an extra row, not a target's. */
export const LEASED_CASE = 'ratewarden (Redis leased + Kafka events)';

/** node:http + undici and nothing else (bench/sidecar/servers.ts `undici-proxy`): the floor of a Node proxy. */
export const FLOOR_PROXY = 'bare undici proxy (floor, no limiter)';
/** Its name in the fixed-rate rows. */
export const FLOOR_PROXY_SHORT = 'bare undici proxy';

export const FIXED_RATE_DIRECT = 'upstream direct @ half of ratewarden (Redis + Kafka) max';
export const FIXED_RATE_FLOOR = `${FLOOR_PROXY_SHORT} @ half of ratewarden (Redis + Kafka) max`;
export const FIXED_RATE_RW = 'ratewarden (Redis + Kafka) @ half of its max';

/** An open-loop row at half of a case's maximum rate (no throughput ratios: its rate is chosen). */
export function isFixedRate(name: string): boolean {
  return name.includes(' @ half of ');
}

export interface HttpRow {
  readonly name: string;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly note?: string;
}

/**
 * The sidecar bench names its fixed-rate rows after the rate it chose (half of that run's maximum),
 * which differs per repetition; give them stable names so repetitions merge, keeping the rate.
 */
export function stableHttpRow<T extends HttpRow>(row: T): T & { offered_rps?: number } {
  const m = /^(upstream direct|bare undici proxy|ratewarden \(Redis \+ Kafka\)) @ (\d+) req\/s$/.exec(row.name);
  if (!m) return row;
  const { note: _note, ...rest } = row;
  const name = m[1] === 'upstream direct' ? FIXED_RATE_DIRECT : m[1] === FLOOR_PROXY_SHORT ? FIXED_RATE_FLOOR : FIXED_RATE_RW;
  return { ...(rest as unknown as T), name, offered_rps: Number(m[2]) };
}

/**
 * `cases` from the merged rows. `missing(name)` says why an expected case has no row
 * (`not installed`, `failed`, `skipped`), with a note.
 */
export function httpCases(rows: ReadonlyArray<HttpRow & { reps?: Num[]; offered_rps?: number }>, missing: (name: string) => { status: PartStatus; note: string }): HttpCaseResult[] {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const peerRps = Object.fromEntries(Object.entries(HTTP_PEERS).map(([id, name]) => [id, byName.get(name)?.rps ?? null])) as Record<keyof typeof HTTP_PEERS, number | null>;
  const peerReps = Object.fromEntries(Object.entries(HTTP_PEERS).map(([id, name]) => [id, byName.get(name)?.reps])) as Record<keyof typeof HTTP_PEERS, Num[] | undefined>;
  const peerIds = Object.keys(HTTP_PEERS) as Array<keyof typeof HTTP_PEERS>;
  const out: HttpCaseResult[] = [];
  const names = [...HTTP_CASES, ...rows.map((r) => r.name).filter((n) => !(HTTP_CASES as readonly string[]).includes(n))];
  for (const name of names) {
    const row = byName.get(name);
    if (!row) {
      const why = missing(name);
      out.push({ name, rps: null, p50_ms: null, p99_ms: null, ratio_vs: {}, status: why.status, note: why.note });
      continue;
    }
    const fixedRate = isFixedRate(name);
    const ratio_vs: Record<string, Num> = {};
    if (!fixedRate) for (const id of peerIds) if (HTTP_PEERS[id] !== name) ratio_vs[id] = pairedRatio(row.reps, peerReps[id]) ?? ratio(row.rps, peerRps[id]);
    out.push({ ...row, ratio_vs, status: 'ok' });
  }
  // each "X @ half of its max" row (and the floor's "bare undici proxy @ half of X max") against
  // "upstream direct @ half of X max", measured alternately with it
  for (let i = 0; i < out.length; i++) {
    const m = /^(.*) @ half of its max$/.exec(out[i]!.name) ?? new RegExp(`^${FLOOR_PROXY_SHORT} @ half of (.*) max$`).exec(out[i]!.name);
    const direct = m ? byName.get(`upstream direct @ half of ${m[1]} max`) : undefined;
    const via = byName.get(out[i]!.name);
    if (direct && via) out[i] = { ...out[i]!, added_p99_ms: round(via.p99_ms - direct.p99_ms, 3) } as HttpCaseResult;
  }
  return out;
}

/**
 * The median of the per-repetition ratios when both cases ran in every repetition (each pair was
 * measured minutes apart at most, so a noisy spell of the shared machine hits one repetition's pair
 * rather than one side of a ratio of medians); null otherwise (the caller falls back to medians).
 */
export function pairedRatio(ours: readonly Num[] | undefined, peer: readonly Num[] | undefined): number | null {
  if (!ours || !peer || ours.length !== peer.length || ours.length === 0) return null;
  const rs: number[] = [];
  for (let i = 0; i < ours.length; i++) {
    const r = ratio(ours[i], peer[i], 6);
    if (r === null) return null;
    rs.push(r);
  }
  return round(median(rs), 2);
}

export interface EngineRow {
  readonly name: string;
  readonly decisionsPerSec: number;
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly note?: string;
}

/** What an engine bench case measures, from its name. */
export function classifyEngineCase(name: string): Pick<EngineCaseResult, 'implementation' | 'store' | 'rules'> & { scope?: string } {
  let m = /^ratewarden (memory|Redis) store, (\d+) rules?$/.exec(name);
  if (m) return { implementation: 'ratewarden', store: m[1] === 'memory' ? 'memory' : 'redis', rules: Number(m[2]) };
  if (name.startsWith('rate-limiter-flexible')) return { implementation: 'rate-limiter-flexible', store: 'redis', rules: 1 };
  if (name.startsWith('redis-benchmark')) return { implementation: 'redis-benchmark', store: 'redis', rules: 1 };
  m = /scope (\S+)$/.exec(name);
  if (m) return { implementation: 'ratewarden', store: 'redis', rules: 1, scope: m[1]! };
  return { implementation: 'unknown', store: null, rules: null };
}

/**
 * `engine` from the merged rows. The one-rule Redis-store row gets ratios against the best
 * rate-limiter-flexible run (one rule, the same keys) and against redis-benchmark's unpipelined
 * EVALSHA (the ceiling of any one-call-per-decision design).
 */
export function engineCases(rows: ReadonlyArray<EngineRow & { reps?: Num[] }>): EngineCaseResult[] {
  const rlfRows = rows.filter((r) => r.name.startsWith('rate-limiter-flexible'));
  const rlf = rlfRows.map((r) => r.decisionsPerSec);
  const bestRlf = rlf.length ? Math.max(...rlf) : null;
  // per repetition, the better rate-limiter-flexible run of that repetition: the ratio is then the
  // median of per-repetition ratios, as for the proxies (a ratio of medians mixes repetitions)
  const n = rlfRows[0]?.reps?.length ?? 0;
  const bestRlfReps: Num[] | undefined =
    n > 0 && rlfRows.every((r) => r.reps?.length === n)
      ? Array.from({ length: n }, (_, i) => {
          const vs = rlfRows.map((r) => r.reps![i]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
          return vs.length ? Math.max(...vs) : null;
        })
      : undefined;
  const ceiling = rows.find((r) => r.name.startsWith('redis-benchmark') && r.name.includes('unpipelined'))?.decisionsPerSec ?? null;
  return rows.map((r) => {
    const kind = classifyEngineCase(r.name);
    const { decisionsPerSec, ...rest } = r;
    const ratio_vs: Record<string, Num> = {};
    // like for like: one rule, many keys (the competing one-key cases and 5 rules have no peer)
    if (kind.implementation === 'ratewarden' && kind.store === 'redis' && kind.rules === 1 && kind.scope === undefined) {
      ratio_vs.rate_limiter_flexible = pairedRatio(r.reps, bestRlfReps) ?? ratio(decisionsPerSec, bestRlf);
      ratio_vs.redis_benchmark_evalsha = ratio(decisionsPerSec, ceiling);
    }
    return { ...rest, ...kind, decisions_per_s: decisionsPerSec, ratio_vs };
  });
}
