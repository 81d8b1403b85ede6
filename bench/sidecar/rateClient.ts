/**
 * An open-loop load generator at a fixed request rate (wrk only measures closed-loop maximum
 * throughput): sends `rate` requests per second over keep-alive connections for `duration`
 * seconds and reports latency percentiles with sub-millisecond resolution. Latency is measured
 * from each request's scheduled send time, so a stall is not hidden (no coordinated omission).
 *
 *   node rateClient.js URL --rate 2000 --duration 10 [--connections 32] [--warmup 2]
 * Prints one JSON line: {"sent":…,"ok":…,"errors":…,"p50_ms":…,"p90_ms":…,"p99_ms":…,"rps":…}
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { rate: { type: 'string' }, duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' }, warmup: { type: 'string', default: '1' } },
  });
  const url = new URL(positionals[0]!);
  const rate = Number(values.rate);
  const duration = Number(values.duration) * 1000;
  const warmup = Number(values.warmup) * 1000;
  const pool = new Pool(url.origin, { connections: Number(values.connections), pipelining: 1, keepAliveTimeout: 30_000 });
  const path = url.pathname + url.search;
  const latencies = new Float64Array(Math.ceil((rate * (duration + warmup)) / 1000) + 1000);
  let n = 0;
  let ok = 0;
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  const measureFrom = start + warmup;
  const end = measureFrom + duration;
  const intervalMs = 1000 / rate;
  let next = start;
  const inflight = new Set<Promise<void>>();
  const fire = (scheduled: number): void => {
    sent++;
    const p = pool
      .request({ method: 'GET', path })
      .then(async (r) => {
        await r.body.dump();
        const done = performance.now();
        if (r.statusCode < 500) ok++;
        else errors++;
        if (scheduled >= measureFrom && n < latencies.length) latencies[n++] = done - scheduled;
      })
      .catch(() => {
        errors++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (next <= now && next < end) {
        fire(next);
        next += intervalMs;
      }
      if (next >= end) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, Math.min(1, next - performance.now())));
    };
    tick();
  });
  await Promise.all(inflight);
  await pool.close();
  const sorted = latencies.subarray(0, n).sort();
  process.stdout.write(
    JSON.stringify({
      sent,
      ok,
      errors,
      rps: Math.round((n / duration) * 1000),
      p50_ms: round(percentile(sorted, 50)),
      p90_ms: round(percentile(sorted, 90)),
      p99_ms: round(percentile(sorted, 99)),
    }) + '\n',
  );
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

void main();
