/**
 * Kafka stopped for 20 s under steady traffic — on a PRIVATE broker (test/helpers/kafkaPrivate.ts),
 * never the shared one. Clients must not notice (zero failed requests, latency unchanged), the
 * sidecar buffers, and after the broker is back every buffered event is delivered, none dropped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { decodeCallEvent } from '../../../models/events.js';
import { childEnv, uniqueName } from '../../helpers/infra.js';
import { startPrivateKafka, type PrivateKafka } from '../../helpers/kafkaPrivate.js';
import { httpRequest, metricValue, startSidecarProcess, startStubUpstream, waitFor, type SidecarProcess, type StubUpstream } from '../../helpers/proc.js';

const topic = uniqueName('kafka-down');
let kafka: PrivateKafka;
let up: StubUpstream;
let sc: SidecarProcess;

before(async () => {
  kafka = await startPrivateKafka();
  const admin = new Kafka({ clientId: 'kafka-down-setup', brokers: [kafka.brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
  up = await startStubUpstream();
  sc = await startSidecarProcess({
    policy: 'version: 1\nidentity: { apiKey: { header: x-api-key } }\nstore: { kind: memory }\nevents: { linger: 20ms }\nrules:\n  - { id: k, key: [apiKey], algorithm: token-bucket, rate: 1000/s, burst: 1000 }\n',
    upstream: up.url,
    env: childEnv({ KAFKA_BROKERS: kafka.brokers, RW_EVENTS_TOPIC: topic }),
  });
});

after(async () => {
  await sc?.stop();
  await up?.close();
  await kafka?.destroy();
});

interface Sample {
  /** The request's path: unique per request, so its event can be found on the topic. */
  readonly path: string;
  readonly at: number;
  readonly ms: number;
  readonly status: number;
}

/** Steady closed-loop traffic from `workers` clients with a pause between requests. */
function steadyLoad(url: string, workers: number, pauseMs: number) {
  const samples: Sample[] = [];
  const errors: string[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let n = 0; running; n++) {
      const t0 = performance.now();
      const path = `/work/${w}/${n}`;
      try {
        const r = await httpRequest(url + path, { headers: { 'x-api-key': `load-key-${w}` }, timeoutMs: 5_000 });
        samples.push({ path, at: t0, ms: performance.now() - t0, status: r.status });
      } catch (err) {
        errors.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    samples,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(s.length * 0.99) - 1)] ?? 0;
}

test('Kafka down for 20 s: zero failed client requests, and every buffered event arrives after the restart', { timeout: 150_000 }, async (t) => {
  const load = steadyLoad(sc.url, 4, 30);
  await new Promise((r) => setTimeout(r, 3_000));
  const downAt = performance.now();
  await kafka.stop();
  await new Promise((r) => setTimeout(r, 20_000));
  const upAt = performance.now();
  await kafka.start();
  await new Promise((r) => setTimeout(r, 2_000));
  await load.stop();

  assert.deepEqual(load.errors, []);
  assert.ok(load.samples.length > 500, `only ${load.samples.length} requests`);
  assert.ok(load.samples.every((s) => s.status === 200), 'a client request failed');
  const before = load.samples.filter((s) => s.at < downAt).map((s) => s.ms);
  const during = load.samples.filter((s) => s.at >= downAt && s.at < upAt).map((s) => s.ms);
  t.diagnostic(`requests: ${load.samples.length}; p99 before ${p99(before).toFixed(1)} ms, while Kafka was down ${p99(during).toFixed(1)} ms`);
  assert.ok(during.length > 200);
  assert.ok(p99(during) < 250, `p99 while Kafka was down: ${p99(during).toFixed(1)} ms`);

  const total = load.samples.length;
  const metrics = async () => (await httpRequest(sc.adminUrl + '/metrics')).text;
  await waitFor(async () => metricValue(await metrics(), 'ratewarden_events_sent_total') === total, `${total} events sent after recovery`, 45_000, 250);
  const text = await metrics();
  assert.equal(metricValue(text, 'ratewarden_events_dropped_total'), 0);
  assert.equal(metricValue(text, 'ratewarden_events_buffered'), 0);
  assert.ok(metricValue(text, 'ratewarden_events_send_errors_total')! > 0, 'the outage was not noticed at all');

  // and they are on the topic: every request's event, found by its unique path. Delivery is at least
  // once (sidecar/README.md): a produce request the broker appended just as it was stopped has its
  // acknowledgement cut and is sent again, so an event may be there twice, never missing
  const consumer = new Kafka({ clientId: 'kafka-down-check', brokers: [kafka.brokers], logLevel: logLevel.NOTHING }).consumer({ groupId: uniqueName('kafka-down-check') });
  let count = 0;
  const routes = new Set<string>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const decoded = decodeCallEvent(message.value!);
      assert.ok(decoded.ok);
      routes.add(decoded.value.route);
      count++;
    },
  });
  const paths = new Set(load.samples.map((s) => s.path));
  try {
    await waitFor(() => [...paths].every((p) => routes.has(p)), `the events of all ${total} requests on the topic (have ${routes.size} distinct of ${count})`, 30_000, 100);
  } finally {
    await consumer.disconnect();
  }
  t.diagnostic(`${count} events on the topic for ${total} requests (${count - routes.size} delivered twice)`);
  assert.equal(routes.size, total, 'no event on the topic that no request made');
  // only what was in flight when the broker was cut can come twice: one batch (events.batchSize, 1000)
  assert.ok(count - total <= 1_000, `${count - total} duplicates: more than the one batch in flight at the cut`);
});
