/**
 * Sidecar throughput and latency, all cases in one run on loopback, each server its own process:
 *
 *   upstream direct                       the app alone (ceiling)
 *   bare undici proxy                     node:http + undici and nothing else: the floor of any Node proxy
 *   @fastify/http-proxy                   the plain fastify proxy, no limiter
 *   ratewarden, no rules                  our proxy path alone
 *   ratewarden, memory store              one fixed-window rule in memory
 *   ratewarden, Redis + Kafka events      the same rule in Redis, one event per request to Kafka
 *   ratewarden, memory + Kafka events     the memory store with events on: what the events cost alone
 *   ratewarden, Redis leased + Kafka      the same limit as a sliding-window counter with scope
 *                                         global-leased (maxOverAdmission 0.01): slices from Redis,
 *                                         spent locally — the mode for large shared limits
 *   @fastify/http-proxy + rate-limit      @fastify/rate-limit with its Redis store
 *   @fastify/http-proxy + rlf             rate-limiter-flexible RateLimiterRedis
 *   nginx limit_req                       when nginx is installed
 and, for the memory store and Redis + Kafka, at half of that case's maximum rate, the p50/p99 it adds
 * over the upstream alone at the same rate (latency.ts: open loop, warm process, repetitions, medians).
 *
 * Throughput is wrk (closed loop, one thread, `connections` connections), with the CPU time the
 * server under test (and Redis) spent per request read from /proc. With taskset and ≥ 2 CPUs the
 * upstream and the proxy share CPU 0 and the load generator gets CPU 1, as in the figures the issue
 * quotes. Limits are set high: this measures the cost of deciding and forwarding, not of rejecting.
 * Fairness: one upstream (node:http, keep-alive) for every case; every proxy keeps a keep-alive pool
 * to it; the same wrk connections and warm-up for every case; the Redis cases on the same Redis.
 *
 *   node dist/bench/sidecar/run.js [--quick]      (or through `npm run bench`)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixedRateLatency, maxRateWithCpu, type FixedRateResult } from './latency.js';
import { benchServer, infraEnv, LEASED_RULE, nginx, pinning, ratewarden, ratewardenCounters, redisServerPid, RULE, runWrk, type Proc } from './procs.js';
import { listenerPid, privateKafka, privateRedis, type PrivateService } from './privateInfra.js';
import { FLOOR_PROXY, FLOOR_PROXY_SHORT, LEASED_CASE, MEMORY_KAFKA_CASE } from '../report/cases.js';

const REDIS_KAFKA_CASE = 'ratewarden (Redis + Kafka events)';

export interface BenchRow {
  readonly name: string;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly note?: string;
  /** CPU time of the server under test per request (µs, /proc), over the measured run. */
  readonly cpu_us?: number;
  /** CPU time of the Redis server per request (µs), for the cases that use Redis. */
  readonly redis_cpu_us?: number;
  /** CPU time of the Kafka broker per request (µs), for the case that sends events. */
  readonly kafka_cpu_us?: number;
  /** Fixed-rate rows: the rate offered (requests/s). */
  readonly offered_rps?: number;
  /**
   * Fixed-rate rows of ratewarden: its CPU per request in that open loop (µs; more than under wrk's
   * closed loop, whose requests share wake-ups), and the share of the core it and the upstream kept busy.
   */
  readonly open_loop_cpu_us?: number;
  readonly core_busy?: number;
}

export interface SidecarBenchOptions {
  readonly quick?: boolean;
  /** Seconds per measured run (default 10; quick 3). */
  readonly seconds?: number;
  readonly connections?: number;
  readonly log?: (line: string) => void;
  /** Run only the cases whose name contains this text (the fixed-rate latency run needs the Redis + Kafka case). */
  readonly only?: string;
  /** Fixed-rate latency repetitions per case (default 3; quick 1). */
  readonly latencyReps?: number;
  /** Use the shared REDIS_URL / KAFKA_BROKERS even when private ones can be started (default false). */
  readonly sharedInfra?: boolean;
}

export async function run(opts: SidecarBenchOptions = {}): Promise<BenchRow[]> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const seconds = opts.seconds ?? (opts.quick ? 3 : 10);
  const warm = opts.quick ? 1 : 2;
  const kafkaWarmSeconds = opts.quick ? 3 : 10;
  const latencyReps = opts.latencyReps ?? (opts.quick ? 1 : 3);
  const connections = opts.connections ?? 50;
  const infra = infraEnv();
  const dir = mkdtempSync(join(tmpdir(), 'rw-bench-sidecar-'));
  // Redis and Kafka of our own on the load generator's CPU (privateInfra.ts says why), else the shared ones
  const services: PrivateService[] = [];
  const own = async (what: string, start: () => Promise<PrivateService | null>): Promise<PrivateService | null> => {
    if (opts.sharedInfra || !pinning) return null;
    try {
      const s = await start();
      if (s) services.push(s);
      return s;
    } catch (err) {
      log(`  (private ${what} failed, using the shared one: ${(err as Error).message.split('\n')[0]})`);
      return null;
    }
  };
  const ownRedis = await own('Redis', () => privateRedis(1, dir));
  if (ownRedis) infra.REDIS_URL = ownRedis.url;
  const ownKafka = infra.KAFKA_BROKERS ? await own('Kafka', () => privateKafka(1, dir)) : null;
  if (ownKafka) infra.KAFKA_BROKERS = ownKafka.url;
  const kafkaPid = ownKafka?.pid ?? (infra.KAFKA_BROKERS ? listenerPid(Number(infra.KAFKA_BROKERS.split(',')[0]!.split(':').pop())) : undefined);
  const rows: BenchRow[] = [];
  const procs: Proc[] = [];
  const tag = `bench-${Date.now().toString(36)}`;
  const redisPid = ownRedis?.pid ?? (await redisServerPid(infra.REDIS_URL));
  const rateRows: BenchRow[] = [];
  let upUrl = '';
  let upstreamPid: number | undefined;
  let floorUrl: string | undefined;
  log(
    `sidecar benchmark: wrk -t1 -c${connections}, ${seconds}s per case${pinning ? ', servers on CPU 0, load generator on CPU 1' : ' (no CPU pinning)'}; ` +
      `Redis ${ownRedis ? 'private on CPU 1' : 'shared'}, Kafka ${ownKafka ? 'private on CPU 1' : infra.KAFKA_BROKERS ? 'shared' : 'none'}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  );

  const wanted = (name: string): boolean => !opts.only || name.toLowerCase().includes(opts.only.toLowerCase());
  const measure = async (name: string, url: string, proc?: Proc, usesRedis = false, usesKafka = false): Promise<BenchRow | null> => {
    if (!wanted(name)) return null;
    await runWrk(url, warm, connections);
    const r = await maxRateWithCpu(url, seconds, connections, [proc?.child.pid, usesRedis ? redisPid : undefined, usesKafka ? kafkaPid : undefined]);
    const counters = await ratewardenCounters(Number(new URL(url).port));
    const notes = [r.non2xx ? `${r.non2xx} non-2xx` : '', counters].filter(Boolean).join('; ');
    const row: BenchRow = {
      name,
      rps: Math.round(r.rps),
      p50_ms: round(r.p50),
      p99_ms: round(r.p99),
      ...(notes ? { note: notes } : {}),
      ...(Number.isFinite(r.cpuUs[0]) ? { cpu_us: r.cpuUs[0] } : {}),
      ...(usesRedis && Number.isFinite(r.cpuUs[1]) ? { redis_cpu_us: r.cpuUs[1] } : {}),
      ...(usesKafka && Number.isFinite(r.cpuUs[2]) ? { kafka_cpu_us: r.cpuUs[2] } : {}),
    };
    rows.push(row);
    const cpu =
      row.cpu_us !== undefined
        ? `   CPU ${row.cpu_us.toFixed(1)} µs/req${row.redis_cpu_us !== undefined ? ` + Redis ${row.redis_cpu_us.toFixed(1)}` : ''}${row.kafka_cpu_us !== undefined ? ` + Kafka ${row.kafka_cpu_us.toFixed(1)}` : ''}`
        : '';
    log(`  ${name.padEnd(50)} ${String(row.rps).padStart(7)} req/s   p50 ${row.p50_ms.toFixed(3)} ms   p99 ${row.p99_ms.toFixed(3)} ms${cpu}${row.note ? '   (' + row.note + ')' : ''}`);
    return row;
  };
  /**
   * Added latency at half of `max`'s rate, on the same warm process, against the upstream alone and
   * beside the floor proxy (node:http + undici, nothing else) at the same rate.
   */
  const halfLoad = async (max: BenchRow | null, url: string, via: Proc, names: [direct: (rate: number) => string, floor: (rate: number) => string, via: (rate: number) => string]): Promise<void> => {
    if (max === null || max.rps <= 0) return;
    const rate = Math.round(max.rps / 2);
    const r: FixedRateResult = await fixedRateLatency(url, upUrl + '/', rate, {
      reps: latencyReps,
      seconds: Math.min(seconds, 5),
      warmSeconds: warm + 1,
      ...(floorUrl ? { floor: floorUrl } : {}),
      pids: { ...(via.child.pid !== undefined ? { via: via.child.pid } : {}), ...(upstreamPid !== undefined ? { upstream: upstreamPid } : {}) },
    });
    const reps = r.reps.map((x) => `${(x.via.p99_ms - x.direct.p99_ms).toFixed(2)}`).join(', ');
    const failed = (n: number): string => (n > 0 ? `; ${n} requests failed` : '');
    rateRows.push({ name: names[0](rate), rps: rate, p50_ms: r.direct.p50_ms, p99_ms: r.direct.p99_ms, offered_rps: rate, note: `median of ${r.reps.length}${failed(r.errors.direct)}` });
    if (r.floor) {
      const floorReps = r.reps.map((x) => `${(x.floor!.p99_ms - x.direct.p99_ms).toFixed(2)}`).join(', ');
      rateRows.push({
        name: names[1](rate),
        rps: rate,
        p50_ms: r.floor.latency.p50_ms,
        p99_ms: r.floor.latency.p99_ms,
        offered_rps: rate,
        note: `the floor of a Node proxy: added p50 ${r.floor.added.p50_ms.toFixed(3)} ms, p99 ${r.floor.added.p99_ms.toFixed(3)} ms (median of ${r.reps.length}; added p99 per run ${floorReps})${failed(r.errors.floor)}`,
      });
    }
    rateRows.push({
      name: names[2](rate),
      rps: rate,
      p50_ms: r.via.p50_ms,
      p99_ms: r.via.p99_ms,
      offered_rps: rate,
      note:
        `added p50 ${r.added.p50_ms.toFixed(3)} ms, p99 ${r.added.p99_ms.toFixed(3)} ms (median of ${r.reps.length}; added p99 per run ${reps})` +
        (r.decision ? `; decision (identify + decide, from ratewarden_decision_seconds) p50 ${r.decision.p50_ms.toFixed(3)} ms, p99 ${r.decision.p99_ms.toFixed(3)} ms` : '') +
        (r.cpu ? `; open loop: ratewarden ${r.cpu.viaUs.toFixed(1)} + upstream ${r.cpu.upstreamUs.toFixed(1)} µs CPU per request, their core ${Math.round(r.cpu.coreBusy * 100)}% busy` : '') +
        (r.decisionsPerStoreCall !== null ? `; ${r.decisionsPerStoreCall} decisions per Redis script call` : '') +
        failed(r.errors.via),
      ...(r.cpu ? { open_loop_cpu_us: r.cpu.viaUs, core_busy: r.cpu.coreBusy } : {}),
    });
  };
  const withProc = async <T>(start: () => Promise<Proc> | null, body: (p: Proc) => Promise<T>, skipNote: string, name?: string): Promise<T | null> => {
    let p: Proc | null = null;
    if (name !== undefined && !wanted(name)) return null;
    try {
      const started = start();
      if (started === null) {
        log(`  (skipped: ${skipNote})`);
        return null;
      }
      p = await started;
      procs.push(p);
      return await body(p);
    } catch (err) {
      log(`  (failed: ${(err as Error).message.split('\n')[0]})`);
      return null;
    } finally {
      if (p) await p.stop();
    }
  };

  try {
    const upstream = await benchServer('upstream', ['--port', '0']);
    procs.push(upstream);
    upUrl = `http://127.0.0.1:${upstream.port}`;
    upstreamPid = upstream.child.pid;
    await measure('upstream direct', upUrl + '/', upstream);
    // the floor of any Node proxy, kept running for the fixed-rate runs beside ratewarden's
    try {
      const floor = await benchServer('undici-proxy', ['--upstream', upUrl]);
      procs.push(floor);
      floorUrl = `http://127.0.0.1:${floor.port}/`;
      await measure(FLOOR_PROXY, floorUrl, floor);
    } catch (err) {
      log(`  (${FLOOR_PROXY} failed: ${(err as Error).message.split('\n')[0]})`);
    }

    await withProc(() => benchServer('http-proxy', ['--upstream', upUrl]), (p) => measure('@fastify/http-proxy (no limiter)', `http://127.0.0.1:${p.port}/`, p), '', '@fastify/http-proxy (no limiter)');
    await withProc(() => ratewarden('version: 1\nrules: []\n', upUrl, {}, dir), (p) => measure('ratewarden (no rules)', `http://127.0.0.1:${p.port}/`, p), '', 'ratewarden (no rules)');
    await withProc(
      () => ratewarden(`version: 1\nstore: { kind: memory }\nrules:\n${RULE}`, upUrl, {}, dir),
      async (p) => {
        const url = `http://127.0.0.1:${p.port}/`;
        // the fixed-rate run reuses the warm process: a cold one measures the JIT warm-up backlog
        await halfLoad(await measure('ratewarden (memory store)', url, p), url, p, [() => 'upstream direct @ half of ratewarden (memory store) max', () => `${FLOOR_PROXY_SHORT} @ half of ratewarden (memory store) max`, () => 'ratewarden (memory store) @ half of its max']);
      },
      '',
      'ratewarden (memory store)',
    );

    const redisKafkaEnv = { REDIS_URL: infra.REDIS_URL ?? '', KAFKA_BROKERS: infra.KAFKA_BROKERS ?? '', RW_EVENTS_TOPIC: `${tag}.events`, RW_CTL_PREFIX: `${tag}:ctl` };
    const haveInfra = Boolean(infra.REDIS_URL && infra.KAFKA_BROKERS);
    // a 1 s store timeout: under load every decision must still come from Redis, not the fail-open fallback
    const rkPolicy = `version: 1\nstore: { kind: redis, failMode: open, keyPrefix: "${tag}:", timeout: 1s }\nrules:\n${RULE}`;
    const kafkaOnlyEnv = { ...redisKafkaEnv, REDIS_URL: '' }; // ratewarden() leaves an empty REDIS_URL out
    const memoryKafkaPolicy = `version: 1\nstore: { kind: memory }\nrules:\n${RULE}`;
    if (haveInfra && [REDIS_KAFKA_CASE, MEMORY_KAFKA_CASE, LEASED_CASE].some(wanted)) {
      // A broker is a long-running JVM: unwarmed (its JIT, a new topic) it cost twice the CPU per
      // request (8.5 against 4.0–4.3 µs, --only kafka) in whichever case used it first, on the load
      // generator's CPU. Warm it, and create the topic, with the same traffic before measuring.
      await withProc(() => ratewarden(memoryKafkaPolicy, upUrl, kafkaOnlyEnv, dir), (p) => runWrk(`http://127.0.0.1:${p.port}/`, kafkaWarmSeconds, connections), '');
      log(`  (Kafka broker warmed: ${kafkaWarmSeconds} s of the memory store + Kafka case, not measured)`);
    }
    if (haveInfra) {
      await withProc(
        () => ratewarden(rkPolicy, upUrl, redisKafkaEnv, dir),
        async (p) => {
          const url = `http://127.0.0.1:${p.port}/`;
          await halfLoad(await measure(REDIS_KAFKA_CASE, url, p, true, true), url, p, [(rate) => `upstream direct @ ${rate} req/s`, (rate) => `${FLOOR_PROXY_SHORT} @ ${rate} req/s`, (rate) => `ratewarden (Redis + Kafka) @ ${rate} req/s`]);
        },
        '',
        REDIS_KAFKA_CASE,
      );
      // the same events with the memory store: splits the Redis + Kafka case's cost between the two
      await withProc(() => ratewarden(memoryKafkaPolicy, upUrl, kafkaOnlyEnv, dir), (p) => measure(MEMORY_KAFKA_CASE, `http://127.0.0.1:${p.port}/`, p, false, true), '', MEMORY_KAFKA_CASE);
      const leasedPolicy = `version: 1\nstore: { kind: redis, failMode: open, keyPrefix: "${tag}:", timeout: 1s }\nrules:\n${LEASED_RULE}`;
      await withProc(() => ratewarden(leasedPolicy, upUrl, redisKafkaEnv, dir), (p) => measure(LEASED_CASE, `http://127.0.0.1:${p.port}/`, p, true, true), '', LEASED_CASE);
    } else log('  (ratewarden Redis + Kafka skipped: REDIS_URL / KAFKA_BROKERS not set; run npm run infra:up)');

    if (infra.REDIS_URL) {
      await withProc(() => benchServer('http-proxy+rate-limit', ['--upstream', upUrl, '--redis', infra.REDIS_URL!]), (p) => measure('@fastify/http-proxy + @fastify/rate-limit (Redis)', `http://127.0.0.1:${p.port}/`, p, true), '', '@fastify/http-proxy + @fastify/rate-limit (Redis)');
      await withProc(() => benchServer('http-proxy+rlf', ['--upstream', upUrl, '--redis', infra.REDIS_URL!]), (p) => measure('@fastify/http-proxy + rate-limiter-flexible (Redis)', `http://127.0.0.1:${p.port}/`, p, true), '', '@fastify/http-proxy + rate-limiter-flexible (Redis)');
    }
    await withProc(() => nginx(upstream.port, dir), (p) => measure('nginx limit_req', `http://127.0.0.1:${p.port}/`, p), 'nginx not installed', 'nginx limit_req');

    for (const row of rateRows) {
      rows.push(row);
      log(`  ${row.name.padEnd(50)} ${String(row.rps).padStart(7)} req/s   p50 ${row.p50_ms.toFixed(3)} ms   p99 ${row.p99_ms.toFixed(3)} ms${row.note ? '   (' + row.note + ')' : ''}`);
    }

    const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
    const rk = find(REDIS_KAFKA_CASE);
    const frl = find('@fastify/http-proxy + @fastify/rate-limit');
    const plain = find('@fastify/http-proxy (no limiter)');
    if (rk && frl) log(`  target ≥ 1.5× @fastify/rate-limit (Redis): ${(rk.rps / frl.rps).toFixed(2)}×`);
    if (rk && plain) log(`  target ≥ 90% of @fastify/http-proxy: ${((rk.rps / plain.rps) * 100).toFixed(0)}%`);
    const leased = find(LEASED_CASE);
    if (leased && frl) log(`  with scope global-leased: ${(leased.rps / frl.rps).toFixed(2)}× @fastify/rate-limit (Redis)`);
    log(`  load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    return rows;
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
    for (const svc of services) await svc.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const onlyAt = process.argv.indexOf('--only');
  run({ quick: process.argv.includes('--quick'), ...(onlyAt > 0 ? { only: process.argv[onlyAt + 1] } : {}) }).then(
    (rows) => {
      process.stdout.write(JSON.stringify(rows) + '\n');
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
