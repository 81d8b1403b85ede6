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
 * The cases the issue's targets compare — Redis + Kafka, @fastify/http-proxy, and the two Redis
 * limiters on it — run side by side and are measured in 5 turns, the order rotating (2 s each
 * standalone; 1 s each in `npm run bench`, whose other cases get 3 s), so that a noisy spell of the
 * shared machine falls on all of them alike; the others are measured one after another.
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
import { FLOOR_PROXY, FLOOR_PROXY_SHORT, HTTP_PEERS, LEASED_CASE, MEMORY_KAFKA_CASE } from '../report/cases.js';

const REDIS_KAFKA_CASE = 'ratewarden (Redis + Kafka events)';
const PLAIN_PROXY = HTTP_PEERS.http_proxy;
const FASTIFY_RATE_LIMIT = HTTP_PEERS.fastify_rate_limit;
const RLF = HTTP_PEERS.rate_limiter_flexible;

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

/** A case of the closed-loop (maximum throughput) measurement: where to send wrk, whose CPU to read. */
interface MaxTarget {
  readonly name: string;
  readonly url: string;
  readonly proc?: Proc;
  readonly usesRedis?: boolean;
  readonly usesKafka?: boolean;
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
  /**
   * Turns in which the target cases (Redis + Kafka and the peers its targets name) are measured,
   * alternating (default 5; quick 1), each turn seconds/turns long but at least 1 s (wrk takes whole
   * seconds): 5 turns of 2 s standalone, 5 of 1 s in `npm run bench` (3 s a case).
   */
  readonly turns?: number;
}

export async function run(opts: SidecarBenchOptions = {}): Promise<BenchRow[]> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const seconds = opts.seconds ?? (opts.quick ? 3 : 10);
  const warm = opts.quick ? 1 : 2;
  const kafkaWarmSeconds = opts.quick ? 3 : 10;
  const latencyReps = opts.latencyReps ?? (opts.quick ? 1 : 3);
  const connections = opts.connections ?? 50;
  const turns = Math.max(1, Math.round(opts.turns ?? (opts.quick ? 1 : 5)));
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
  /** Each case measured in turns: its rps per turn (turn k of every case ran in the same round). */
  const turnRps = new Map<string, number[]>();
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
    return (await measureInTurns([{ name, url, ...(proc ? { proc } : {}), usesRedis, usesKafka }], 1))[0] ?? null;
  };
  /**
   * Measures the targets taking turns: `turns` rounds, each giving every target seconds/turns of
   * wrk, the order rotating by one per round. A spell of the shared machine's noise then falls on
   * every target of the group alike instead of on whichever ran in it, and the ratios between them
   * say what the code costs. rps is requests over time summed over the turns, CPU per request the
   * same, p50/p99 the median of the turns'.
   */
  const measureInTurns = async (targets: readonly MaxTarget[], turns: number): Promise<BenchRow[]> => {
    const live = targets.filter((t) => wanted(t.name));
    const slice = Math.max(1, Math.floor(seconds / turns)); // wrk takes whole seconds
    const acc = live.map(() => ({ requests: 0, seconds: 0, rps: [] as number[], p50: [] as number[], p99: [] as number[], cpu: [0, 0, 0], non2xx: 0 }));
    for (const t of live) await runWrk(t.url, warm, connections);
    for (let round = 0; round < turns; round++) {
      for (let j = 0; j < live.length; j++) {
        const i = (round + j) % live.length;
        const t = live[i]!;
        const r = await maxRateWithCpu(t.url, slice, connections, [t.proc?.child.pid, t.usesRedis ? redisPid : undefined, t.usesKafka ? kafkaPid : undefined]);
        const a = acc[i]!;
        a.requests += r.requests;
        a.seconds += slice;
        a.rps.push(r.rps);
        a.p50.push(r.p50);
        a.p99.push(r.p99);
        a.non2xx += r.non2xx;
        r.cpuTotalUs.forEach((us, k) => (a.cpu[k] = a.cpu[k]! + us));
      }
    }
    const out: BenchRow[] = [];
    for (let i = 0; i < live.length; i++) {
      const t = live[i]!;
      const a = acc[i]!;
      turnRps.set(t.name, a.rps);
      const cpuUs = a.cpu.map((us) => round(us / a.requests));
      const counters = await ratewardenCounters(Number(new URL(t.url).port));
      const turnNote = turns > 1 && live.length > 1 ? `${turns} turns of ${slice} s, alternating with: ${live.filter((o) => o !== t).map((o) => o.name).join(', ')}` : '';
      const notes = [a.non2xx ? `${a.non2xx} non-2xx` : '', counters, turnNote].filter(Boolean).join('; ');
      out.push(
        report({
          name: t.name,
          rps: Math.round(a.requests / a.seconds),
          p50_ms: round(medianOf(a.p50)),
          p99_ms: round(medianOf(a.p99)),
          ...(notes ? { note: notes } : {}),
          ...(Number.isFinite(cpuUs[0]) ? { cpu_us: cpuUs[0] } : {}),
          ...(t.usesRedis && Number.isFinite(cpuUs[1]) ? { redis_cpu_us: cpuUs[1] } : {}),
          ...(t.usesKafka && Number.isFinite(cpuUs[2]) ? { kafka_cpu_us: cpuUs[2] } : {}),
        }),
      );
    }
    return out;
  };
  const report = (row: BenchRow): BenchRow => {
    rows.push(row);
    const cpu =
      row.cpu_us !== undefined
        ? `   CPU ${row.cpu_us.toFixed(1)} µs/req${row.redis_cpu_us !== undefined ? ` + Redis ${row.redis_cpu_us.toFixed(1)}` : ''}${row.kafka_cpu_us !== undefined ? ` + Kafka ${row.kafka_cpu_us.toFixed(1)}` : ''}`
        : '';
    log(`  ${row.name.padEnd(50)} ${String(row.rps).padStart(7)} req/s   p50 ${row.p50_ms.toFixed(3)} ms   p99 ${row.p99_ms.toFixed(3)} ms${cpu}${row.note ? '   (' + row.note + ')' : ''}`);
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
    // The targets' group: Redis + Kafka and the peers its targets are ratios to, all running at once
    // (idle while another is measured) and measured in turns, so that the ratios compare like with like.
    type Member = Omit<MaxTarget, 'url' | 'proc'> & { start: () => Promise<Proc> };
    const members: Member[] = [
      { name: PLAIN_PROXY, start: () => benchServer('http-proxy', ['--upstream', upUrl]) },
      ...(haveInfra ? [{ name: REDIS_KAFKA_CASE, start: () => ratewarden(rkPolicy, upUrl, redisKafkaEnv, dir), usesRedis: true, usesKafka: true }] : []),
      ...(infra.REDIS_URL
        ? [
            { name: FASTIFY_RATE_LIMIT, start: () => benchServer('http-proxy+rate-limit', ['--upstream', upUrl, '--redis', infra.REDIS_URL!]), usesRedis: true },
            { name: RLF, start: () => benchServer('http-proxy+rlf', ['--upstream', upUrl, '--redis', infra.REDIS_URL!]), usesRedis: true },
          ]
        : []),
    ];
    const group = members.filter((g) => wanted(g.name));
    if (!haveInfra) log('  (ratewarden Redis + Kafka skipped: REDIS_URL / KAFKA_BROKERS not set; run npm run infra:up)');
    const running: Array<MaxTarget & { proc: Proc }> = [];
    try {
      for (const g of group) {
        try {
          const p = await g.start();
          procs.push(p);
          running.push({ name: g.name, url: `http://127.0.0.1:${p.port}/`, proc: p, ...(g.usesRedis ? { usesRedis: true } : {}), ...(g.usesKafka ? { usesKafka: true } : {}) });
        } catch (err) {
          log(`  (${g.name} failed to start: ${(err as Error).message.split('\n')[0]})`);
        }
      }
      if (running.length > 1) log(`  (measured in ${turns} turns, alternating: ${running.map((r) => r.name).join(', ')})`);
      const measured = await measureInTurns(running, turns);
      const rk = running.find((r) => r.name === REDIS_KAFKA_CASE);
      if (rk) {
        await halfLoad(measured.find((r) => r.name === REDIS_KAFKA_CASE) ?? null, rk.url, rk.proc, [
          (rate) => `upstream direct @ ${rate} req/s`,
          (rate) => `${FLOOR_PROXY_SHORT} @ ${rate} req/s`,
          (rate) => `ratewarden (Redis + Kafka) @ ${rate} req/s`,
        ]);
      }
    } catch (err) {
      log(`  (failed: ${(err as Error).message.split('\n')[0]})`);
    } finally {
      for (const r of running) await r.proc.stop().catch(() => undefined);
    }

    if (haveInfra) {
      // the same events with the memory store: splits the Redis + Kafka case's cost between the two
      await withProc(() => ratewarden(memoryKafkaPolicy, upUrl, kafkaOnlyEnv, dir), (p) => measure(MEMORY_KAFKA_CASE, `http://127.0.0.1:${p.port}/`, p, false, true), '', MEMORY_KAFKA_CASE);
      const leasedPolicy = `version: 1\nstore: { kind: redis, failMode: open, keyPrefix: "${tag}:", timeout: 1s }\nrules:\n${LEASED_RULE}`;
      await withProc(() => ratewarden(leasedPolicy, upUrl, redisKafkaEnv, dir), (p) => measure(LEASED_CASE, `http://127.0.0.1:${p.port}/`, p, true, true), '', LEASED_CASE);
    }
    await withProc(() => nginx(upstream.port, dir), (p) => measure('nginx limit_req', `http://127.0.0.1:${p.port}/`, p), 'nginx not installed', 'nginx limit_req');

    for (const row of rateRows) {
      rows.push(row);
      log(`  ${row.name.padEnd(50)} ${String(row.rps).padStart(7)} req/s   p50 ${row.p50_ms.toFixed(3)} ms   p99 ${row.p99_ms.toFixed(3)} ms${row.note ? '   (' + row.note + ')' : ''}`);
    }

    const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
    const rk = find(REDIS_KAFKA_CASE);
    const frl = find(FASTIFY_RATE_LIMIT);
    const plain = find(PLAIN_PROXY);
    const perTurn = (a: string, b: string, scale: number, digits: number): string => {
      const x = turnRps.get(a);
      const y = turnRps.get(b);
      if (!x || !y || x.length < 2 || x.length !== y.length) return '';
      return ` (per turn: ${x.map((v, k) => ((v / y[k]!) * scale).toFixed(digits)).join(', ')})`;
    };
    if (rk && frl) log(`  target ≥ 1.5× @fastify/rate-limit (Redis): ${(rk.rps / frl.rps).toFixed(2)}×${perTurn(REDIS_KAFKA_CASE, FASTIFY_RATE_LIMIT, 1, 2)}`);
    if (rk && plain) log(`  target ≥ 90% of @fastify/http-proxy: ${((rk.rps / plain.rps) * 100).toFixed(0)}%${perTurn(REDIS_KAFKA_CASE, PLAIN_PROXY, 100, 0)}`);
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

function medianOf(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
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
