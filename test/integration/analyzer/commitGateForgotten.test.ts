/**
 * The commit gate holds at most 4,096 windows back per partition; a window it stops holding back
 * may have its events committed before they are scored (lost at a crash), so every such drop is
 * counted in `ratewarden_commit_windows_forgotten_total` — on real Kafka, through the source the CLI
 * wires to the analyzer's metrics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { encodeCallEvent } from '../../../models/events.js';
import { KafkaEventSource } from '../../../analyzer/ingest/kafkaEventSource.js';
import { AnalyzerMetrics } from '../../../analyzer/metrics.js';
import { requireKafka, uniqueName } from '../../helpers/infra.js';

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const topics: string[] = [];
const sources: KafkaEventSource[] = [];

before(async () => {
  kafka = await requireKafka();
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});

after(async () => {
  for (const s of sources) await s.stop();
  await producer?.disconnect();
  if (topics.length) await admin?.deleteTopics({ topics }).catch(() => undefined);
  await admin?.disconnect();
});

async function metricValue(metrics: AnalyzerMetrics, name: string): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

test('windows the commit gate forgets past 4,096 per partition are counted in ratewarden_commit_windows_forgotten_total', { timeout: 90_000 }, async () => {
  const name = uniqueName('rwtest-an-forgotten');
  await admin.createTopics({ topics: [{ topic: name, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  topics.push(name);
  const group = uniqueName('rwtest-an-group');
  // 4,100 events, each in its own 10 s window (≈ 11 h of event time), none ever scored
  const T = 1_700_000_000_000;
  const total = 4_100;
  for (let from = 0; from < total; from += 1_000) {
    const messages = Array.from({ length: Math.min(1_000, total - from) }, (_, k) => {
      const i = from + k;
      const value = encodeCallEvent({ v: 1, ts: T + i * 10_000 + 1, pod: 'p', service: 'api', method: 'GET', route: '/api/x', status: 200, latencyMs: 5, bytesIn: 0, bytesOut: 100, ip: '10.0.0.1', client: 'ip:10.0.0.1', user: null, uaHash: null, decision: 'allowed', rule: null, cost: 1 });
      return { key: 'k', value };
    });
    await producer.send({ topic: name, messages });
  }
  const metrics = new AnalyzerMetrics();
  const source = new KafkaEventSource({ kafka, topic: name, groupId: group, fromBeginning: true, scoredUntil: () => Number.NEGATIVE_INFINITY, commitEveryMs: 200 });
  sources.push(source);
  metrics.watchIngest(source);
  assert.equal(await metricValue(metrics, 'ratewarden_commit_windows_forgotten_total'), 0, 'exported from the start, at 0');
  let handled = 0;
  void source.run(async (events) => void (handled += events.length));
  const deadline = Date.now() + 60_000;
  while (handled < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(handled, total, 'every event handled');
  assert.equal(source.windowsForgotten, total - 4_096);
  assert.equal(await metricValue(metrics, 'ratewarden_commit_windows_forgotten_total'), total - 4_096, 'every window forgotten is counted');
  await source.stop();
});
