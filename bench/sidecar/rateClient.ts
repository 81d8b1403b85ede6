/**
 * An open-loop load generator at a fixed request rate (wrk only measures closed-loop maximum
 * throughput): sends `rate` requests per second over keep-alive connections for `duration`
 * seconds and reports latency percentiles with sub-millisecond resolution. Latency is measured
 * from each request's scheduled send time, so a stall is not hidden (no coordinated omission).
 *
 * Arrivals are a Poisson process by default (exponential gaps from a seeded generator: independent
 * clients, as a service sees them), or evenly spaced (`--arrivals uniform`). Node's timers fire in
 * whole milliseconds, which would release each millisecond's requests as one burst — a harsher load
 * than either, inflating the latency of whatever is slower per request — and polling the event loop
 * for sub-millisecond precision would keep a core busy, starving whatever shares it (Redis and
 * Kafka share the load generator's CPU in the benchmark). So a worker thread keeps the schedule: it
 * sleeps until each arrival in Atomics.wait (sub-millisecond timeouts) and posts it; the main thread
 * sends on the message. `late_ms_p99` reports how late sends left against their schedule.
 *
 *   node rateClient.js URL --rate 2000 --duration 10 [--connections 32] [--warmup 2]
 *                          [--arrivals poisson|uniform] [--seed 1]
 * Prints one JSON line: {"sent":…,"ok":…,"errors":…,"p50_ms":…,"p90_ms":…,"p99_ms":…,"rps":…,"late_ms_p99":…}
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/**
 * The pacer thread: mulberry32 (seeded, so every run offers the same arrival pattern) for the gaps,
 * Atomics.wait to sleep until the next arrival, and the arrivals that are due, posted as one
 * Float64Array in the main thread's clock.
 */
const PACER = `
const { parentPort, workerData } = require('node:worker_threads');
const { end, meanGapMs, poisson, seed, originDelta } = workerData;
const shift = originDelta - performance.timeOrigin; // main-thread time = worker time - shift
const now = () => performance.now() - shift;
let a = seed >>> 0;
const random = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const gap = () => (poisson ? -Math.log(1 - random()) * meanGapMs : meanGapMs);
const cell = new Int32Array(new SharedArrayBuffer(4));
let next = workerData.start + gap();
const due = [];
while (next < end) {
  const wait = next - now();
  if (wait > 0.05) Atomics.wait(cell, 0, 0, wait);
  const t = now();
  while (next <= t && next < end) {
    due.push(next);
    next += gap();
  }
  if (due.length > 0) {
    parentPort.postMessage(Float64Array.from(due));
    due.length = 0;
  }
}
`;

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      rate: { type: 'string' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
      warmup: { type: 'string', default: '1' },
      arrivals: { type: 'string', default: 'poisson' },
      seed: { type: 'string', default: '1' },
    },
  });
  const url = new URL(positionals[0]!);
  const rate = Number(values.rate);
  const duration = Number(values.duration) * 1000;
  const warmup = Number(values.warmup) * 1000;
  const poisson = values.arrivals !== 'uniform';
  const pool = new Pool(url.origin, { connections: Number(values.connections), pipelining: 1, keepAliveTimeout: 30_000 });
  const path = url.pathname + url.search;
  const capacity = Math.ceil((rate * (duration + warmup)) / 1000 * 1.2) + 1000;
  const latencies = new Float64Array(capacity);
  const lateness = new Float64Array(capacity);
  let n = 0;
  let late = 0;
  let ok = 0;
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  const measureFrom = start + warmup;
  const end = measureFrom + duration;
  const inflight = new Set<Promise<void>>();
  const fire = (scheduled: number, now: number): void => {
    sent++;
    if (scheduled >= measureFrom && late < lateness.length) lateness[late++] = now - scheduled;
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
  // the pacer: a worker that sleeps until each arrival and posts its scheduled time, converted to this
  // thread's clock (each thread's performance.now() counts from its own timeOrigin)
  const pacer = new Worker(PACER, {
    eval: true,
    workerData: { start, end, meanGapMs: 1000 / rate, poisson, seed: Number(values.seed), originDelta: performance.timeOrigin },
  });
  await new Promise<void>((resolve, reject) => {
    pacer.on('message', (times: Float64Array) => {
      const now = performance.now();
      for (let i = 0; i < times.length; i++) fire(times[i]!, now);
    });
    pacer.once('error', reject);
    pacer.once('exit', () => resolve());
  });
  await Promise.all(inflight);
  await pool.close();
  const sorted = latencies.subarray(0, n).sort();
  const lateSorted = lateness.subarray(0, late).sort();
  process.stdout.write(
    JSON.stringify({
      sent,
      ok,
      errors,
      rps: Math.round((n / duration) * 1000),
      p50_ms: round(percentile(sorted, 50)),
      p90_ms: round(percentile(sorted, 90)),
      p99_ms: round(percentile(sorted, 99)),
      late_ms_p99: round(percentile(lateSorted, 99)),
    }) + '\n',
  );
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

void main();
