/**
 * Call events under a load burst: one real `ratewarden sidecar` with Kafka events on (its own topic,
 * memory store so the event path is the bottleneck under test), wrk at full speed for a few
 * seconds, then — once the sidecar has flushed — the events on the topic (sum of the partitions'
 * high watermarks) against the requests answered, and the sidecar's own
 * `ratewarden_events_sent_total` / `events_dropped_total`. The request path never waits on Kafka, so
 * under overload events are dropped and counted rather than slowing requests: `dropped` says how
 * many.
 *
 *   node --import tsx bench/events/run.ts [--seconds 5]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { infraEnv } from '../machine.js';
import { round } from '../report/stats.js';
import { metricValue, scrape, startSidecar, startUpstream, type RunningProcess } from '../propagation/sidecarProcess.js';

export interface EventsOptions {
  /** Seconds of the burst (default 5). */
  readonly seconds?: number;
  readonly connections?: number;
  readonly log?: (line: string) => void;
}

export interface EventsResult {
  /** Events delivered to Kafka per second of the burst. */
  readonly sent_per_s: number | null;
  readonly dropped: number | null;
  readonly requests: number;
  readonly requests_per_s: number;
  readonly events_sent: number | null;
  readonly on_topic: number;
  /** Events on the topic / requests answered. */
  readonly delivered_ratio: number | null;
  readonly seconds: number;
  readonly partitions: number;
  readonly note: string;
}

const POLICY = `version: 1
store: { kind: memory }
rules:
  - { id: bench, key: [ip], algorithm: fixed-window, limit: 1000000000, window: 1s }
`;

const PARTITIONS = 3;

/** wrk's total ("N requests in 5.00s") and requests/s. */
export function parseWrkTotals(out: string): { requests: number; rps: number } | null {
  const total = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!total || !rps) return null;
  return { requests: Number(total[1]), rps: Number(rps[1]) };
}

function wrk(url: string, seconds: number, connections: number): Promise<{ requests: number; rps: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', () => {
      const t = parseWrkTotals(out);
      if (t) resolve(t);
      else reject(new Error(`wrk output not understood:\n${out}`));
    });
  });
}

export async function run(opts: EventsOptions = {}): Promise<EventsResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const seconds = opts.seconds ?? 5;
  const env = infraEnv();
  if (!env.KAFKA_BROKERS) throw new Error('KAFKA_BROKERS is not set and .infra.env has none (run npm run infra:up)');
  const topic = `rwbench-events-${Date.now().toString(36)}`;
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const kafka = new Kafka({ clientId: 'rwbench-events', brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const procs: RunningProcess[] = [];
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
    const upstream = await startUpstream();
    procs.push(upstream);
    const sidecar = await startSidecar(POLICY, upstream.url, { KAFKA_BROKERS: env.KAFKA_BROKERS, RW_EVENTS_TOPIC: topic });
    procs.push(sidecar);
    log(`events: sidecar → Kafka topic ${topic} (${PARTITIONS} partitions), wrk ${seconds} s`);

    const burst = await wrk(`${sidecar.url}/`, seconds, opts.connections ?? 50);
    // let the sink flush (linger 20 ms, batches in flight), bounded
    let sent: number | null = null;
    let dropped: number | null = null;
    let answered = burst.requests;
    for (let i = 0; i < 40; i++) {
      const text = await scrape(sidecar.admin!);
      sent = metricValue(text, 'ratewarden_events_sent_total');
      dropped = metricValue(text, 'ratewarden_events_dropped_total');
      const buffered = metricValue(text, 'ratewarden_events_buffered') ?? 0;
      // wrk does not count answers still in flight when it stops; the sidecar's request counter does
      answered = Math.max(burst.requests, metricValue(text, 'ratewarden_requests_total') ?? 0);
      if (buffered === 0 && (sent ?? 0) + (dropped ?? 0) >= answered) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const offsets = await admin.fetchTopicOffsets(topic);
    const onTopic = offsets.reduce((s, p) => s + Number(p.high), 0);
    const result: EventsResult = {
      sent_per_s: sent === null ? null : Math.round(sent / seconds),
      dropped,
      requests: answered,
      requests_per_s: Math.round(burst.rps),
      events_sent: sent,
      on_topic: onTopic,
      delivered_ratio: answered ? round(onTopic / answered, 4) : null,
      seconds,
      partitions: PARTITIONS,
      note: 'memory store; sent/s = events_sent_total / burst seconds; on_topic = sum of high watermarks after the flush',
    };
    log(`  ${result.requests} requests (${result.requests_per_s}/s), ${sent} events sent (${result.sent_per_s}/s), ${dropped} dropped, ${onTopic} on the topic (${result.delivered_ratio})`);
    return result;
  } finally {
    await Promise.all(procs.map((p) => p.stop().catch(() => undefined)));
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf('--seconds');
  run(at > 0 ? { seconds: Number(process.argv[at + 1]) } : {}).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
