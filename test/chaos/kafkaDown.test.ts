/**
 * The Kafka broker down for 30 s under load, on a PRIVATE broker (test/helpers/kafkaPrivate.ts; the
 * shared one on 19092 is never touched). Two real sidecar processes serve steady traffic:
 *
 * - one with the default event buffer (100 000): zero failed client requests, and after the broker
 *   is back every event of the outage is on the topic — none dropped;
 * - one with a small buffer (events.bufferSize 1 000): zero failed client requests as well; the
 *   events beyond the bound are dropped oldest-first and counted, so delivered + dropped equals the
 *   requests answered exactly — never a silent loss.
 *
 * (test/e2e/sidecar/kafkaDown.test.ts covers a 20 s outage with latency; this one adds the bound.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { decodeCallEvent } from '../../models/events.js';
import { childEnv, uniqueName } from '../helpers/infra.js';
import { startPrivateKafka, type PrivateKafka } from '../helpers/kafkaPrivate.js';
import { httpRequest, metricValue, startSidecarProcess, startStubUpstream, waitFor, type SidecarProcess, type StubUpstream } from '../helpers/proc.js';
import { figure, percentile, startLoad, thousands } from './lib/load.js';
import { sleep } from './lib/privateRedis.js';

const SMALL = 1_000;
const topics = { big: uniqueName('chaos-kafka-big'), small: uniqueName('chaos-kafka-small') };
let kafka: PrivateKafka;
let up: StubUpstream;
let big: SidecarProcess;
let small: SidecarProcess;

const policy = (extra: string): string => `version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: memory }
events: { linger: 20ms${extra} }
rules:
  - { id: k, key: [apiKey], algorithm: token-bucket, rate: 100000/s, burst: 100000 }
`;

before(async () => {
  kafka = await startPrivateKafka();
  const admin = new Kafka({ clientId: 'chaos-kafka-setup', brokers: [kafka.brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
  await admin.disconnect();
  up = await startStubUpstream();
  [big, small] = await Promise.all([
    startSidecarProcess({ policy: policy(''), upstream: up.url, env: childEnv({ KAFKA_BROKERS: kafka.brokers, RW_EVENTS_TOPIC: topics.big }) }),
    startSidecarProcess({ policy: policy(`, bufferSize: ${SMALL}`), upstream: up.url, env: childEnv({ KAFKA_BROKERS: kafka.brokers, RW_EVENTS_TOPIC: topics.small }) }),
  ]);
});

after(async () => {
  await Promise.all([big?.stop(), small?.stop()]);
  await up?.close();
  await kafka?.destroy();
});

async function metrics(sc: SidecarProcess): Promise<{ sent: number; dropped: number; buffered: number; errors: number }> {
  const text = (await httpRequest(sc.adminUrl + '/metrics')).text;
  return {
    sent: metricValue(text, 'ratewarden_events_sent_total') ?? 0,
    dropped: metricValue(text, 'ratewarden_events_dropped_total') ?? 0,
    buffered: metricValue(text, 'ratewarden_events_buffered') ?? 0,
    errors: metricValue(text, 'ratewarden_events_send_errors_total') ?? 0,
  };
}

async function countOnTopic(topic: string, atLeast: number): Promise<number> {
  const consumer = new Kafka({ clientId: 'chaos-kafka-check', brokers: [kafka.brokers], logLevel: logLevel.NOTHING }).consumer({ groupId: uniqueName('chaos-kafka-check') });
  let count = 0;
  let bad = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (decodeCallEvent(message.value!).ok) count++;
      else bad++;
    },
  });
  try {
    await waitFor(() => count >= atLeast || null, `${atLeast} events on ${topic} (have ${count})`, 30_000, 100);
    await sleep(1_000); // anything beyond (duplicates) would show up by now
  } finally {
    await consumer.disconnect();
  }
  assert.equal(bad, 0);
  return count;
}

test('Kafka down for 30 s: zero failed client requests; events buffered and delivered, drops beyond the bound counted', { timeout: 150_000 }, async () => {
  const loads = [big, small].map((sc) => startLoad({ url: sc.url, workers: 4, pauseMs: 10, headers: (w) => ({ 'x-api-key': `chaos-kafka-${w}` }) }));
  await sleep(2_000);
  const downAt = performance.now();
  await kafka.stop();
  await sleep(30_000);
  const restartAt = performance.now();
  await kafka.start();
  const backAt = performance.now();
  await sleep(2_000);
  await Promise.all(loads.map((l) => l.stop()));

  const [bigLoad, smallLoad] = loads as [(typeof loads)[0], (typeof loads)[0]];
  for (const l of loads) {
    assert.deepEqual(l.errors.slice(0, 3), []);
    assert.ok(l.samples.every((s) => s.status === 200), 'a client request failed');
  }
  const answered = { big: bigLoad.samples.length, small: smallLoad.samples.length };
  const duringMs = bigLoad.samples.filter((s) => s.at >= downAt && s.at < restartAt).map((s) => s.ms);

  await waitFor(async () => (await metrics(big)).sent === answered.big, `all ${answered.big} events of the big-buffer sidecar sent`, 45_000, 250);
  await waitFor(async () => {
    const m = await metrics(small);
    return m.buffered === 0 && m.sent + m.dropped === answered.small;
  }, 'the small-buffer sidecar settled', 45_000, 250);
  const mb = await metrics(big);
  const ms = await metrics(small);
  const onBig = await countOnTopic(topics.big, answered.big);
  const onSmall = await countOnTopic(topics.small, ms.sent);

  figure(
    `Kafka down 30 s (restart took ${((backAt - restartAt) / 1000).toFixed(1)} s): 0/${thousands(answered.big + answered.small)} failed client requests (p99 ${percentile(duringMs, 0.99).toFixed(1)} ms while down); ` +
      `buffer 100k: ${thousands(onBig)}/${thousands(answered.big)} events delivered, ${mb.dropped} dropped, ${thousands(mb.errors)} failed sends retried; ` +
      `buffer ${thousands(SMALL)}: ${thousands(onSmall)} delivered + ${thousands(ms.dropped)} dropped and counted = ${thousands(answered.small)} answered`,
  );
  assert.equal(mb.dropped, 0);
  assert.equal(onBig, answered.big);
  assert.ok(ms.dropped > 0, 'the small buffer overflowed');
  assert.ok(ms.sent >= SMALL, 'the small buffer still delivered what it held');
  assert.equal(onSmall, ms.sent);
  assert.equal(onSmall + ms.dropped, answered.small);
});
