/**
 * The service-wide request-rate series are bounded at 1,000 services, and every request left out of
 * them is counted (ratewarden_service_requests_dropped_total{reason}): past the cap in a window or
 * in the series, and windows dropped while a stuck partition holds them. A service already held
 * keeps counting at the cap, and a service idle for an hour gives its place to a new one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallEvent } from '../../../models/events.js';
import { T0, ev } from './helpers.js';
import { setupAnalyzer, type AnalyzerHarness } from './harness.js';

async function dropped(s: AnalyzerHarness, reason: string): Promise<number> {
  const text = await s.analyzer.metrics.registry.getSingleMetricAsString('ratewarden_service_requests_dropped_total');
  const m = new RegExp(`ratewarden_service_requests_dropped_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** One event of client `c` of service `svc` at `ts`. */
function call(ts: number, c: number, svc: string): CallEvent {
  return ev({ ts, client: `ip:10.${(c >> 16) & 255}.${(c >> 8) & 255}.${c & 255}`, ip: `10.${(c >> 16) & 255}.${(c >> 8) & 255}.${c & 255}`, service: svc });
}

test('past 1,000 services every request left out of the service series is counted; a service already held keeps counting', async () => {
  const s = setupAnalyzer('');
  const batch: CallEvent[] = [];
  for (let i = 0; i < 1_000; i++) batch.push(call(T0 + 1, i, `svc-${i}`));
  // the 1,001st service, twice; then another client of a service already held
  batch.push(call(T0 + 2, 5_000, 'svc-new'), call(T0 + 3, 5_000, 'svc-new'), call(T0 + 4, 6_000, 'svc-0'));
  s.analyzer.ingest(batch);
  s.now = T0 + 60_000;
  await s.analyzer.finish(s.now);
  assert.equal(s.analyzer.services().length, 1_000);
  assert.equal(s.analyzer.service('svc-new'), null);
  assert.equal(await dropped(s, 'service_cap'), 2, 'the new service’s two requests are counted as dropped');
  assert.equal(s.analyzer.service('svc-0')!.points.at(-1)!.requests, 2, 'a service already held counts all of its requests at the cap');

  // a later window: a service never seen before finds the series full
  s.analyzer.ingest([call(T0 + 60_001, 7_000, 'svc-later')]);
  s.now = T0 + 120_000;
  await s.analyzer.finish(s.now);
  assert.equal(s.analyzer.service('svc-later'), null);
  assert.equal(await dropped(s, 'service_cap'), 3);
});

test('a service idle for an hour gives its place in the series to a new one', async () => {
  const s = setupAnalyzer('');
  const batch: CallEvent[] = [];
  for (let i = 0; i < 1_000; i++) batch.push(call(T0 + 1, i, `svc-${i}`));
  s.analyzer.ingest(batch);
  s.now = T0 + 60_000;
  await s.analyzer.finish(s.now);
  // svc-1 … svc-999 stay busy; svc-0 falls silent
  const later = T0 + 3_700_000;
  const busy: CallEvent[] = [];
  for (let i = 1; i < 1_000; i++) busy.push(call(later, i, `svc-${i}`));
  s.analyzer.ingest(busy);
  s.now = later + 60_000;
  await s.analyzer.finish(s.now);
  s.analyzer.ingest([call(later + 20_000, 9_000, 'svc-fresh')]);
  s.now = later + 120_000;
  await s.analyzer.finish(s.now);
  assert.ok(s.analyzer.service('svc-fresh'), 'the new service has a series');
  assert.equal(s.analyzer.service('svc-0'), null, 'the idle one gave its place');
  assert.equal(s.analyzer.services().length, 1_000);
  assert.equal(await dropped(s, 'service_cap'), 0);
});

test('service windows dropped while a stuck partition holds them back are counted', async () => {
  const s = setupAnalyzer('');
  // partition 1 saw one early event and then nothing (its clock held back by a stale watermark only
  // until it goes idle, so keep it "arriving": the harness clock does not move between ingests)
  s.analyzer.ingest([call(T0, 1, 'svc-a')], 1);
  let requests = 0;
  for (let w = 0; w < 1_010; w++) {
    const ts = T0 + w * 10_000;
    s.analyzer.ingest([call(ts, 2, 'svc-b')], 0);
    s.analyzer.ingest([call(T0, 1, 'svc-a')], 1); // a late event: partition 1 stays behind
    requests++;
    s.now = ts + 10_000;
    await s.analyzer.tick(s.now);
  }
  assert.ok(requests > 1_000);
  assert.ok((await dropped(s, 'backlog')) > 0, 'windows dropped past the backlog bound are counted');
});
