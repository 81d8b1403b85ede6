/**
 * Command line for the simulator (not part of the `ratewarden` binary):
 *
 *   node --import tsx simulator/cli.ts generate --seed 1 --duration 1h --out events.jsonl [--labels labels.json]
 *   node --import tsx simulator/cli.ts stub --listen 127.0.0.1:8081 [--route-latency 1] [--capacity 8:20:64]
 *   node --import tsx simulator/cli.ts http --target http://127.0.0.1:8080 --duration 60s [--fixed-rate 200]
 *   node --import tsx simulator/cli.ts kafka --topic ratewarden.events --rate 20000 --duration 30s [--gzip]
 *
 * Run with `help` for every option.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { once } from 'node:events';
import { parseDuration } from '../models/duration.js';
import { encodeCallEvent } from '../models/events.js';
import { createSimulation, DEFAULT_START_MS } from './generate.js';
import { defaultScenarios, SCENARIO_NAMES, type ScenarioSpec } from './scenarios.js';
import { startStubUpstream } from './stub-upstream.js';
import { driveHttp } from './drivers/http.js';

const USAGE = `usage: node --import tsx simulator/cli.ts <command> [options]

commands:
  generate   write simulated CallEvents (JSON lines) and their ground-truth labels
  stub       run the stub upstream API
  http       send simulated traffic to a URL in real time
  kafka      write simulated CallEvents into a Kafka topic at a rate (KAFKA_BROKERS)

common options (generate, http, kafka):
  --seed S              seed (default 1)
  --clients N           normal clients (default 500)
  --rate R              the population's mean total rate, calls/s (default: natural, ~100/s for 500 clients)
  --flat                no diurnal/weekly pattern or noise
  --scenarios LIST      all | none | comma-separated names (${SCENARIO_NAMES.join(', ')}); default all for generate, none otherwise
  --start ISO           simulated start (default ${new Date(DEFAULT_START_MS).toISOString()}; http: now)
  --duration D          simulated (generate) or real (http, kafka) duration: 90s, 10m, 2h, 1d

generate:  --out FILE (default stdout)  --labels FILE (default labels.json beside --out, else stderr)
stub:      --listen H:P (default 127.0.0.1:8081) --latency-ms N --route-latency X --error-rate P --capacity WORKERS:SERVICE_MS:QUEUE
http:      --target URL (required) --fixed-rate R (ignore timestamps) --speed X (simulated ms per real ms) --max-in-flight N
kafka:     --topic T (default ratewarden.events) --rate R (events/s, required) --gzip --batch N --source-timestamps
`;

function fail(message: string): never {
  throw Object.assign(new Error(message), { usage: true });
}

function durationOf(text: string | undefined, fallback: string): number {
  const ms = parseDuration(text ?? fallback);
  if (ms === null || ms <= 0) fail(`--duration: "${text}" is not a duration`);
  return ms;
}

function numberOf(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) fail(`${what}: "${text}" is not a number`);
  return n;
}

function scenariosOf(text: string | undefined, fallback: 'all' | 'none', durationMs: number): ScenarioSpec[] {
  const value = text ?? fallback;
  if (value === 'none') return [];
  const all = defaultScenarios(durationMs);
  if (value === 'all') return all;
  return value.split(',').map((name) => {
    const spec = all.find((s) => s.name === name.trim());
    if (!spec) fail(`--scenarios: unknown scenario "${name}" (known: ${SCENARIO_NAMES.join(', ')})`);
    return spec;
  });
}

const OPTIONS = {
  seed: { type: 'string' },
  clients: { type: 'string' },
  rate: { type: 'string' },
  flat: { type: 'boolean' },
  scenarios: { type: 'string' },
  start: { type: 'string' },
  duration: { type: 'string' },
  out: { type: 'string' },
  labels: { type: 'string' },
  listen: { type: 'string' },
  'latency-ms': { type: 'string' },
  'route-latency': { type: 'string' },
  'error-rate': { type: 'string' },
  capacity: { type: 'string' },
  target: { type: 'string' },
  'fixed-rate': { type: 'string' },
  speed: { type: 'string' },
  'max-in-flight': { type: 'string' },
  topic: { type: 'string' },
  gzip: { type: 'boolean' },
  batch: { type: 'string' },
  'source-timestamps': { type: 'boolean' },
} as const;

export async function runSimulatorCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const { values: o } = parseArgs({ args: rest, options: OPTIONS, strict: true });
  const seed = o.seed ?? '1';
  const populationOptions = {
    clients: numberOf(o.clients, '--clients') ?? 500,
    ...(o.rate !== undefined ? { ratePerSec: numberOf(o.rate, '--rate')! } : {}),
    patterns: !o.flat,
  };

  switch (command) {
    case 'generate': {
      const durationMs = durationOf(o.duration, '1h');
      const startMs = o.start ? Date.parse(o.start) : DEFAULT_START_MS;
      if (!Number.isFinite(startMs)) fail(`--start: "${o.start}" is not an ISO date`);
      const sim = createSimulation({ seed, startMs, duration: durationMs, population: populationOptions, scenarios: scenariosOf(o.scenarios, 'all', durationMs) });
      const labels = JSON.stringify({ seed, startMs, endMs: sim.endMs, clients: sim.population.clients.length, labels: sim.labels }, null, 2) + '\n';
      const out = o.out ? createWriteStream(o.out) : process.stdout;
      let chunk = '';
      let count = 0;
      for (const event of sim.events()) {
        chunk += encodeCallEvent(event) + '\n';
        count++;
        if (chunk.length > 1 << 16) {
          if (!out.write(chunk)) await once(out, 'drain');
          chunk = '';
        }
      }
      out.write(chunk);
      if (o.out) {
        (out as ReturnType<typeof createWriteStream>).end();
        await once(out, 'finish');
      }
      const labelsPath = o.labels ?? (o.out ? join(dirname(o.out), 'labels.json') : null);
      if (labelsPath) await writeFile(labelsPath, labels);
      else process.stderr.write(labels);
      process.stderr.write(`simulator: ${count} events, ${sim.labels.length} labelled attacks${labelsPath ? ` → ${labelsPath}` : ''}\n`);
      return 0;
    }
    case 'stub': {
      const { parseListen } = await import('../models/infra.js');
      const listen = parseListen(o.listen ?? '127.0.0.1:8081', '--listen', '127.0.0.1');
      let capacity;
      if (o.capacity) {
        const [workers, serviceMs, queueLimit] = o.capacity.split(':').map(Number);
        if (!(workers! > 0 && serviceMs! > 0 && queueLimit! >= 0)) fail('--capacity: expected WORKERS:SERVICE_MS:QUEUE, e.g. 8:20:64');
        capacity = { workers: workers!, serviceMs: serviceMs!, queueLimit: queueLimit! };
      }
      const stub = await startStubUpstream({
        host: listen.host,
        port: listen.port,
        latencyMs: numberOf(o['latency-ms'], '--latency-ms') ?? 0,
        routeLatency: numberOf(o['route-latency'], '--route-latency') ?? 0,
        errorRate: numberOf(o['error-rate'], '--error-rate') ?? 0,
        seed,
        ...(capacity ? { capacity } : {}),
      });
      process.stderr.write(`simulator: stub upstream on ${stub.url}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await stub.close();
      process.stderr.write(`simulator: ${JSON.stringify(stub.stats())}\n`);
      return 0;
    }
    case 'http': {
      if (!o.target) fail('http: --target URL is required');
      const durationMs = durationOf(o.duration, '60s');
      const startMs = Date.now();
      const sim = createSimulation({ seed, startMs, duration: Infinity, population: populationOptions, scenarios: scenariosOf(o.scenarios, 'none', durationMs) });
      const fixed = numberOf(o['fixed-rate'], '--fixed-rate');
      const driver = driveHttp({
        baseUrl: o.target,
        calls: sim.calls(),
        simStartMs: startMs,
        durationMs,
        ...(fixed !== undefined ? { ratePerSec: fixed } : { speed: numberOf(o.speed, '--speed') ?? 1 }),
        maxInFlight: numberOf(o['max-in-flight'], '--max-in-flight') ?? 256,
      });
      process.once('SIGINT', () => void driver.stop());
      const stats = await driver.done;
      process.stdout.write(JSON.stringify({ labels: sim.labels, stats }, null, 2) + '\n');
      return 0;
    }
    case 'kafka': {
      // loaded only here, so `generate` and `stub` start without the Kafka and Redis clients
      const { createKafka, kafkaConnectionFromEnv } = await import('../models/infra.js');
      const { driveKafka } = await import('./drivers/kafka.js');
      const conn = kafkaConnectionFromEnv();
      if (!conn) fail('kafka: set KAFKA_BROKERS');
      const rate = numberOf(o.rate, '--rate');
      if (rate === undefined || rate <= 0) fail('kafka: --rate R (events per second) is required');
      const durationMs = durationOf(o.duration, '30s');
      const sim = createSimulation({ seed, duration: Infinity, population: populationOptions, scenarios: scenariosOf(o.scenarios, 'none', 86_400_000) });
      const driver = driveKafka({
        kafka: createKafka(conn, 'ratewarden-simulator'),
        topic: o.topic ?? process.env.RW_EVENTS_TOPIC ?? 'ratewarden.events',
        events: sim.events(),
        ratePerSec: rate,
        durationMs,
        compression: o.gzip ? 'gzip' : 'none',
        batchSize: numberOf(o.batch, '--batch') ?? 500,
        timestamps: o['source-timestamps'] ? 'source' : 'wall',
      });
      process.once('SIGINT', () => void driver.stop());
      process.stdout.write(JSON.stringify(await driver.done, null, 2) + '\n');
      return 0;
    }
    default:
      fail(`unknown command "${command}"`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runSimulatorCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error & { usage?: boolean }) => {
      process.stderr.write(`simulator: ${err.message}\n${err.usage || err.name === 'TypeError' ? '\n' + USAGE : ''}`);
      process.exitCode = 2;
    },
  );
}
