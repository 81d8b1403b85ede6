/**
 * Analyzer benchmark (issue 5), printed and returned by `run()`:
 *
 * - ingest: simulator traffic offered at 100k events/s of simulated time from 20k clients (30
 *   simulated seconds; --quick: 20k/s from 4k clients) through the Analyzer on one core, one tick
 *   per simulated second, as fast as it goes: `ingest_only_events_per_s` (the counters alone),
 *   `ingest_events_per_s` (counters plus window closing, scoring with every detector incl. the
 *   autoencoder, and decisions) and `decode_ingest_events_per_s` (the same from JSON message
 *   bytes, as from Kafka). Target ≥ 100k/s. The offered rate is in simulated time, so windows close
 *   as they would at that rate for real: each client closes one 10 s window per 10 s, and
 *   `scoring_us_per_window` says what one costs (for other client counts and rates).
 * - state: bytes per client (the analyzer's own estimate, and heap growth per client measured).
 * - lag_at_50k: a producer process sends 50k events/s to a 4-partition topic on real Kafka while
 *   this process runs the analyzer's consumer group (KafkaEventSource + Analyzer); consumer lag is
 *   sampled every second. Target: bounded (it does not grow with time).
 * - detection: the simulator's labelled scenarios (bench/analyzer/detection.ts), unless --quick.
 *
 *   node --import tsx bench/analyzer/run.ts [--quick] [--no-kafka] [--no-detection] [--no-early-look]
 *   node dist/bench/analyzer/run.js [--quick]
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Kafka, logLevel } from 'kafkajs';
import { LeanKafkaProducer } from '../../sidecar/events/leanProducer.js';
import type { EncodedEvent } from '../../sidecar/events/kafkaSink.js';
import { decodeCallEvent, encodeCallEvent, type CallEvent } from '../../models/events.js';
import { MemoryControlPlane } from '../../models/controlPlane.js';
import { parsePolicy } from '../../models/policy/index.js';
import { loadTf } from '../../models/ml/backend.js';
import { AutoencoderScorer } from '../../models/ml/autoencoder.js';
import { createSimulation } from '../../simulator/index.js';
import { Analyzer } from '../../analyzer/analyzer.js';
import { MemoryReportStore } from '../../analyzer/reports/memoryStore.js';
import { KafkaEventSource } from '../../analyzer/ingest/kafkaEventSource.js';
import { loadSeriesFactory } from '../../analyzer/detectors/seriesScorer.js';
import { shippedModelDir } from '../../analyzer/model.js';
import { EVAL_POLICY, evaluateDetection, formatDetection, type DetectionEval } from './detection.js';
import { infraEnv } from '../machine.js';


export interface AnalyzerBenchOptions {
  readonly quick?: boolean;
  readonly kafka?: boolean;
  readonly detection?: boolean;
  /** The analyzer's early look at the open minute (default on, as `ratewarden analyzer` runs). */
  readonly earlyLook?: boolean;
  readonly log?: (line: string) => void;
  /** Events in the ingest run (default 30 s of the offered rate), the clients they come from (default 20k; quick 4k) and the offered rate in simulated time (default 100k/s; quick 20k/s). */
  readonly ingestEvents?: number;
  readonly ingestClients?: number;
  readonly ingestRate?: number;
  /** Seconds of 50k/s production in the lag run (default 30; quick 6). */
  readonly lagSeconds?: number;
}

export interface LagResult {
  readonly target_events_per_s: number;
  readonly produced_events_per_s: number;
  readonly consumed_events_per_s: number;
  readonly seconds: number;
  /** Lag samples (events behind), one per second. */
  readonly lag: number[];
  readonly max_lag: number;
  readonly final_lag: number;
  /** The lag of the last third is not above the first third's maximum (it does not grow). */
  readonly bounded: boolean;
  readonly note?: string;
}

export interface AnalyzerBenchResult {
  readonly ingest_only_events_per_s: number;
  readonly ingest_events_per_s: number;
  readonly decode_ingest_events_per_s: number;
  readonly events: number;
  readonly clients: number;
  readonly windows_scored: number;
  readonly scoring_us_per_window: number;
  readonly state_bytes_per_client: number;
  readonly heap_bytes_per_client: number;
  readonly lag_at_50k: LagResult | { readonly skipped: string };
  readonly detection: DetectionEval | { readonly skipped: string };
}

function policy() {
  const parsed = parsePolicy(EVAL_POLICY);
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join('; '));
  return parsed.policy;
}

function simEvents(clients: number, ratePerSec: number, count: number, seed = 11): CallEvent[] {
  const sim = createSimulation({ seed, duration: Math.ceil((count / ratePerSec) * 1000) + 60_000, population: { clients, ratePerSec, patterns: false } });
  const out: CallEvent[] = [];
  for (const e of sim.events()) {
    out.push(e);
    if (out.length >= count) break;
  }
  return out;
}

async function ingestBench(quick: boolean, log: (l: string) => void, sizes: { events?: number | undefined; clients?: number | undefined; rate?: number | undefined } = {}, earlyLook = true) {
  // the offered rate is in simulated time, so windows close as often as they would at that rate
  const rate = sizes.rate ?? (quick ? 20_000 : 100_000);
  const count = sizes.events ?? rate * 30;
  const clients = sizes.clients ?? (quick ? 4_000 : 20_000);
  log(`ingest: generating ${count} simulator events (${clients} clients offered at ${rate}/s)…`);
  const events = simEvents(clients, rate, count);
  const bytes = events.map((e) => Buffer.from(encodeCallEvent(e)));
  const autoencoder = await AutoencoderScorer.load(await loadTf(), shippedModelDir());
  const series = await loadSeriesFactory();
  const runOnce = async (decode: boolean) => {
    let now = events[0]!.ts;
    const analyzer = new Analyzer({ policy: policy(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => now, autoencoder, series, detection: { warmupMs: 0, ...(earlyLook ? {} : { earlyLookMs: 0 }) } });
    if (global.gc) global.gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let ingestNs = 0n;
    let tickNs = 0n;
    let decodeNs = 0n;
    let scored = 0;
    let nextTick = now + 1_000;
    const batch: CallEvent[] = [];
    const flush = (): void => {
      const t0 = process.hrtime.bigint();
      analyzer.ingest(batch);
      ingestNs += process.hrtime.bigint() - t0;
      batch.length = 0;
    };
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.ts >= nextTick) {
        flush();
        now = nextTick;
        const t0 = process.hrtime.bigint();
        scored += (await analyzer.tick(now)).scored.length;
        tickNs += process.hrtime.bigint() - t0;
        nextTick += 1_000;
      }
      if (decode) {
        const t0 = process.hrtime.bigint();
        const d = decodeCallEvent(bytes[i]!);
        decodeNs += process.hrtime.bigint() - t0;
        if (d.ok) batch.push(d.value);
      } else batch.push(e);
      if (batch.length >= 5_000) flush();
    }
    flush();
    // close and score every window the events filled (in a run of tens of simulated seconds most
    // are still open at the last tick: only each client's first 10 s window had been scored), so
    // the figure "with scoring" carries the scoring of all of them, as a steady state would
    {
      now = events[events.length - 1]!.ts + 1_000;
      const t0 = process.hrtime.bigint();
      scored += (await analyzer.finish(now)).scored.length;
      tickNs += process.hrtime.bigint() - t0;
    }
    if (global.gc) global.gc();
    const heapPerClient = (process.memoryUsage().heapUsed - heapBefore) / Math.max(1, analyzer.clientCount);
    return { ingestNs, tickNs, decodeNs, scored, clients: analyzer.clientCount, stateBytes: analyzer.meanStateBytes(), heapPerClient };
  };
  const plain = await runOnce(false);
  const decoded = await runOnce(true);
  const perSecond = (ns: bigint): number => Math.round(count / (Number(ns) / 1e9));
  return {
    ingest_only_events_per_s: perSecond(plain.ingestNs),
    ingest_events_per_s: perSecond(plain.ingestNs + plain.tickNs),
    decode_ingest_events_per_s: perSecond(decoded.ingestNs + decoded.tickNs + decoded.decodeNs),
    events: count,
    clients: plain.clients,
    windows_scored: plain.scored,
    scoring_us_per_window: Math.round(Number(plain.tickNs) / 1e3 / Math.max(1, plain.scored)),
    state_bytes_per_client: plain.stateBytes,
    heap_bytes_per_client: Math.round(plain.heapPerClient),
  };
}

async function lagBench(quick: boolean, log: (l: string) => void, lagSeconds?: number): Promise<LagResult | { skipped: string }> {
  const brokers = infraEnv().KAFKA_BROKERS?.split(',') ?? null;
  if (!brokers) return { skipped: 'no Kafka (KAFKA_BROKERS / .infra.env); run npm run infra:up' };
  const rate = 50_000;
  const seconds = lagSeconds ?? (quick ? 6 : 30);
  const topic = `rwbench-analyzer-${Date.now().toString(36)}`;
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const kafka = new Kafka({ clientId: 'rwbench-analyzer', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 1 }], waitForLeaders: true });
  let now = Date.now();
  const analyzer = new Analyzer({ policy: policy(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), autoencoder: await AutoencoderScorer.load(await loadTf(), shippedModelDir()), series: await loadSeriesFactory(), clock: () => now });
  let consumed = 0;
  const source = new KafkaEventSource({ kafka, topic, groupId: `${topic}-g`, fromBeginning: true, maxBytesPerPartition: 4 << 20 });
  const running = source.run(async (events, meta) => {
    analyzer.ingest(events, meta.partition);
    consumed += events.length;
  });
  const ticker = setInterval(() => {
    now = Date.now();
    void analyzer.tick(now);
  }, 1_000);
  await new Promise((r) => setTimeout(r, 3_000)); // join the group first
  const child = fork(fileURLToPath(import.meta.url), ['--producer', topic, String(rate), String(seconds), brokers.join(',')], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let produced = 0;
  let started = Date.now();
  const ready = new Promise<void>((resolve) => child.once('message', () => resolve()));
  child.on('message', (m: { produced?: number }) => {
    if (m.produced !== undefined) produced = m.produced;
  });
  await ready;
  started = Date.now();
  const lag: number[] = [];
  const consumedAtStart = consumed;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const sampler = setInterval(() => lag.push(Math.max(0, produced - consumed)), 1_000);
  await exited;
  const producedSeconds = (Date.now() - started) / 1000;
  // let the consumer drain what is left (bounded wait)
  for (let i = 0; i < 20 && consumed < produced; i++) await new Promise((r) => setTimeout(r, 500));
  clearInterval(sampler);
  const consumedSeconds = (Date.now() - started) / 1000;
  clearInterval(ticker);
  await source.stop();
  await running;
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  const third = Math.max(1, Math.floor(lag.length / 3));
  const firstMax = Math.max(...lag.slice(0, third));
  const lastMax = Math.max(...lag.slice(-third));
  log(`lag samples: ${lag.join(' ')}`);
  return {
    target_events_per_s: rate,
    produced_events_per_s: Math.round(produced / producedSeconds),
    consumed_events_per_s: Math.round((consumed - consumedAtStart) / consumedSeconds),
    seconds,
    lag,
    max_lag: Math.max(0, ...lag),
    final_lag: Math.max(0, produced - consumed),
    bounded: lastMax <= Math.max(firstMax, rate),
    ...(produced < rate * seconds * 0.9 ? { note: `the producer reached ${Math.round(produced / producedSeconds)}/s of the 50k/s asked (shared machine)` } : {}),
  };
}

/**
 * The producer process: `rate` events/s of simulator traffic (timestamps now) for `seconds`, sent
 * the way a sidecar sends them: the sidecar's own producer (LeanKafkaProducer), keyed by client,
 * gzip batches (the policy's default codec). With kafkajs (~15–20 µs of CPU per message, see
 * sidecar/events/leanProducer.ts) the producer, next to the broker and the consumer on two shared
 * cores, reached only 39–44k/s of the 50k/s asked; the lean producer spends about 1 µs.
 */
async function producer(topic: string, rate: number, seconds: number, brokers: string[]): Promise<void> {
  const pool = simEvents(5_000, 10_000, 50_000, 21).map((e) => ({ key: e.client, rest: encodeCallEvent(e).replace(/^\{"v":1,"ts":\d+/, '') }));
  const p = new LeanKafkaProducer({ brokers, topic, clientId: 'rwbench-producer', compression: 'gzip', acks: 1 });
  await p.connect();
  process.send?.({ ready: true });
  const start = Date.now();
  let sent = 0;
  let acked = 0;
  let i = 0;
  const inFlight = new Set<Promise<unknown>>();
  while (Date.now() - start < seconds * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate);
    if (sent >= due || inFlight.size >= 8) {
      if (inFlight.size >= 8) await Promise.race(inFlight);
      else await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    const n = Math.min(2_000, due - sent);
    const ts = Date.now();
    const messages = new Array<EncodedEvent>(n);
    for (let k = 0; k < n; k++) {
      const m = pool[i++ % pool.length]!;
      messages[k] = { key: m.key, value: `{"v":1,"ts":${ts}${m.rest}` };
    }
    sent += n;
    const send = p.send(messages).then(() => process.send?.({ produced: (acked += n) }));
    inFlight.add(send);
    void send.finally(() => inFlight.delete(send));
  }
  await Promise.all(inFlight);
  await p.disconnect();
}

export async function run(opts: AnalyzerBenchOptions = {}): Promise<AnalyzerBenchResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const quick = opts.quick ?? false;
  const ingest = await ingestBench(quick, log, { events: opts.ingestEvents, clients: opts.ingestClients, rate: opts.ingestRate }, opts.earlyLook ?? true);
  log(`ingest: ${ingest.ingest_only_events_per_s} events/s counters only, ${ingest.ingest_events_per_s}/s with scoring, ${ingest.decode_ingest_events_per_s}/s from JSON bytes; ${ingest.windows_scored ? `${ingest.windows_scored} windows scored at ${ingest.scoring_us_per_window} µs each` : 'NO window closed (too few events: "with scoring" is counters only)'}; ${ingest.clients} clients, ~${ingest.state_bytes_per_client} B state each (heap +${ingest.heap_bytes_per_client} B/client)`);
  // the ingest run leaves ~1.3 GB of garbage (full size): collected during the lag run, its
  // mark-compact and the 0.3 s scavenge after it were that run's start-up lag peak, not the consumer's
  collectGarbage();
  const lag = opts.kafka === false ? { skipped: '--no-kafka' } : await lagBench(quick, log, opts.lagSeconds).catch((err: unknown) => ({ skipped: `kafka: ${(err as Error).message}` }));
  if ('skipped' in lag) log(`lag at 50k/s: skipped (${lag.skipped})`);
  else log(`lag at 50k/s: produced ${lag.produced_events_per_s}/s, consumed ${lag.consumed_events_per_s}/s, max lag ${lag.max_lag}, final ${lag.final_lag}, bounded ${lag.bounded}${lag.note ? ` — ${lag.note}` : ''}`);
  let detection: DetectionEval | { skipped: string } = { skipped: quick ? '--quick' : '--no-detection' };
  if (!quick && opts.detection !== false) {
    detection = await evaluateDetection({ durationMs: 3 * 3_600_000, seed: 1, log: () => undefined });
    log(formatDetection(detection));
  }
  return { ...ingest, lag_at_50k: lag, detection };
}

/** A full collection now (global.gc when node runs with --expose-gc, else the same function exposed for this call). */
function collectGarbage(): void {
  if (global.gc) return void global.gc();
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self) {
  if (process.argv[2] === '--producer') {
    const [, , , topic, rate, seconds, brokers] = process.argv;
    producer(topic!, Number(rate), Number(seconds), brokers!.split(',')).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`producer: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  } else {
    run({ quick: process.argv.includes('--quick'), kafka: !process.argv.includes('--no-kafka'), detection: !process.argv.includes('--no-detection'), earlyLook: !process.argv.includes('--no-early-look') }).then(
      (r) => {
        const { detection, lag_at_50k, ...rest } = r;
        process.stdout.write(JSON.stringify({ ...rest, lag_at_50k: 'lag' in lag_at_50k ? { ...lag_at_50k, lag: undefined } : lag_at_50k, detection: 'recall' in detection ? { recall: detection.recall, falseAlarmsPer10kClientMinutes: detection.falseAlarmsPer10kClientMinutes, medianTimeToDetectS: detection.medianTimeToDetectS, maxTimeToDetectS: detection.maxTimeToDetectS } : detection }, null, 2) + '\n');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
        process.exit(1);
      },
    );
  }
}
