/**
 * The soak's traffic, in a process of its own (so its garbage never pauses the sampler): an
 * open-loop generator at a fixed rate over keep-alive connections, spread over a pool of API keys
 * (each key a realistic few requests a minute) plus a share of never-seen random keys (so bounded
 * caches keep evicting), on a few routes. Prints one JSON line per `--every` seconds:
 * {"t":…,"sent":…,"ok":…,"limited":…,"errors":…,"p50_ms":…,"p99_ms":…}, and {"done":true} at the end.
 * Latency is measured from each request's scheduled time (no coordinated omission).
 *
 *   node bench/soak/load.js URL --rate 1500 --seconds 600 [--keys 5000] [--fresh 0.02] [--every 10]
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      rate: { type: 'string' },
      seconds: { type: 'string', default: '60' },
      keys: { type: 'string', default: '5000' },
      fresh: { type: 'string', default: '0.02' },
      every: { type: 'string', default: '10' },
      connections: { type: 'string', default: '64' },
    },
  });
  const url = new URL(positionals[0]!);
  const rate = Number(values.rate);
  const durationMs = Number(values.seconds) * 1000;
  const everyMs = Number(values.every) * 1000;
  const keys = Number(values.keys);
  const fresh = Number(values.fresh);
  const pool = new Pool(url.origin, { connections: Number(values.connections), pipelining: 1, keepAliveTimeout: 30_000 });
  const intervalMs = 1000 / rate;
  let latencies = new Float64Array(Math.ceil((rate * everyMs) / 1000) * 2 + 100);
  let n = 0;
  let sent = 0;
  let ok = 0;
  let limited = 0;
  let errors = 0;
  let seq = 0;
  const start = performance.now();
  let next = start;
  let reportAt = start + everyMs;
  const end = start + durationMs;
  const inflight = new Set<Promise<void>>();

  const report = (now: number): void => {
    const sorted = latencies.subarray(0, n).sort();
    process.stdout.write(JSON.stringify({ t: Math.round((now - start) / 1000), sent, ok, limited, errors, p50_ms: round(percentile(sorted, 0.5)), p99_ms: round(percentile(sorted, 0.99)) }) + '\n');
    sent = ok = limited = errors = n = 0;
    latencies = new Float64Array(latencies.length);
  };

  const fire = (scheduled: number): void => {
    sent++;
    const i = seq++;
    const key = Math.random() < fresh ? `fresh-${i}-${Math.random().toString(36).slice(2)}` : `soak-key-${i % keys}`;
    const p = pool
      .request({ method: 'GET', path: `/api/items/${i % 1000}`, headers: { 'x-api-key': key, 'user-agent': `soak/${i % 7}` } })
      .then(async (r) => {
        await r.body.dump();
        if (r.statusCode === 429) limited++;
        else if (r.statusCode < 400) ok++;
        else errors++;
        if (n < latencies.length) latencies[n++] = performance.now() - scheduled;
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
      if (now >= reportAt) {
        report(now);
        reportAt += everyMs;
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
  if (sent > 0) report(performance.now()); // the tail since the last full interval
  await pool.close();
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

void main();
