/**
 * Reports leaving the analyzer are counted on its /metrics: delivered to the anomalies topic, failed
 * deliveries, and those dropped when the publisher's queue overflowed while Kafka was away; and the
 * in-memory report store's evictions past its bound. Nothing of it was exported before: a report
 * lost to a full queue was visible only in the publisher's `stats` object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { KafkaReportPublisher } from '../../../analyzer/reports/publisher.js';
import { makeReport } from '../../integration/operator/fixtures.js';
import { metricValue, waitFor } from '../../helpers/proc.js';

const POLICY = (() => {
  const r = parsePolicy('version: 1\nrules:\n  - { id: g, key: [global], algorithm: token-bucket, rate: 10/s, burst: 10 }\n');
  assert.ok(r.ok);
  return r.policy;
})();

/** A Kafka whose producer fails every send until `up` is set. */
function fakeKafka(): { kafka: Kafka; setUp(v: boolean): void; sent: number } {
  let up = false;
  const state = {
    sent: 0,
    setUp: (v: boolean) => void (up = v),
    kafka: {
      producer: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        send: async ({ messages }: { messages: unknown[] }) => {
          if (!up) throw new Error('broker down');
          state.sent += messages.length;
          return [];
        },
      }),
    } as unknown as Kafka,
  };
  return state;
}

function report(i: number) {
  return makeReport({ id: `an-${i}`, client: `ip:10.0.0.${i % 250}`, minutesAgo: 1, score: 0.8, kind: 'observe', status: 'open', applied: false, summary: 's' }, Date.now());
}

test('reports dropped by a full publisher queue, failed deliveries and deliveries are counted on /metrics', async () => {
  const k = fakeKafka();
  const publisher = new KafkaReportPublisher(k.kafka, { maxQueue: 5, lingerMs: 1 });
  const analyzer = await startAnalyzer({
    policy: POLICY,
    source: new MemoryEventBus(),
    controlPlane: new MemoryControlPlane(),
    reports: new MemoryReportStore(),
    publisher,
    listen: { host: '127.0.0.1', port: 0 },
    model: null,
    logger: false,
  });
  try {
    for (let i = 0; i < 12; i++) publisher.publish(report(i));
    // 12 into a queue of 5: 7 dropped at once; the first send fails (broker down) and keeps the 5
    await waitFor(() => publisher.stats.errors >= 1, 'a failed delivery', 5_000);
    let text = await (await fetch(`${analyzer.address}/metrics`)).text();
    assert.equal(metricValue(text, 'ratewarden_reports_dropped_total'), 7);
    assert.ok(metricValue(text, 'ratewarden_report_publish_errors_total')! >= 1);
    assert.equal(metricValue(text, 'ratewarden_reports_published_total'), 0);
    k.setUp(true);
    await waitFor(() => publisher.stats.published === 5, 'the kept reports delivered after the broker came back', 10_000);
    text = await (await fetch(`${analyzer.address}/metrics`)).text();
    assert.equal(metricValue(text, 'ratewarden_reports_published_total'), 5);
    assert.equal(metricValue(text, 'ratewarden_reports_dropped_total'), 7, 'a counter: the same total on the next scrape');
    assert.equal(k.sent, 5);
  } finally {
    await analyzer.close();
  }
});

test('reports the in-memory store evicts past its bound are counted in ratewarden_reports_evicted_total', async () => {
  const store = new MemoryReportStore(3);
  const analyzer = await startAnalyzer({
    policy: POLICY,
    source: new MemoryEventBus(),
    controlPlane: new MemoryControlPlane(),
    reports: store,
    listen: { host: '127.0.0.1', port: 0 },
    model: null,
    logger: false,
  });
  try {
    for (let i = 0; i < 8; i++) assert.ok(await store.create(report(i)));
    const text = await (await fetch(`${analyzer.address}/metrics`)).text();
    assert.equal(metricValue(text, 'ratewarden_reports_evicted_total'), 5);
    assert.equal(metricValue(text, 'ratewarden_reports_dropped_total'), 0, 'no publisher: nothing dropped, the name is still there');
  } finally {
    await analyzer.close();
  }
});
