/** The policy options the load features read: analyzer.load, upstream.adaptiveConcurrency, tiers' shedPriority. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPolicyErrors, parsePolicy, type Policy } from '../../../models/policy/index.js';

function parse(text: string): Policy {
  const r = parsePolicy(text);
  assert.ok(r.ok, r.ok ? '' : formatPolicyErrors(r.errors));
  return r.policy;
}

function errorsOf(text: string): string {
  const r = parsePolicy(text);
  return r.ok ? '' : formatPolicyErrors(r.errors);
}

test('analyzer.load is normalised with its defaults: aimd, 1 s interval, minMultiplier 0.2', () => {
  const p = parse('version: 1\nrules: []\nanalyzer:\n  load:\n    targets: { p99: 250ms, errorRate: 0.01 }\n');
  assert.deepEqual(p.analyzer.load, { targets: { p99Ms: 250, p50Ms: null, errorRate: 0.01 }, minMultiplier: 0.2, strategy: 'aimd', intervalMs: 1_000, metricsUrl: null, gauges: {} });
});

test('upstream.adaptiveConcurrency defaults to gradient2 between 4 and 1000 starting at 20', () => {
  const p = parse('version: 1\nrules: []\nupstream: { adaptiveConcurrency: {} }\n');
  assert.deepEqual(p.upstream.adaptiveConcurrency, { strategy: 'gradient2', minLimit: 4, maxLimit: 1_000, initialLimit: 20 });
  assert.equal(parse('version: 1\nrules: []\n').upstream.adaptiveConcurrency, null);
});

test('tiers are shed free first: shedPriority defaults to 2 for free and 1 for the others', () => {
  const p = parse('version: 1\nrules: []\ntiers: { free: {}, pro: {}, enterprise: { shedPriority: 0 } }\n');
  assert.deepEqual(Object.fromEntries(Object.entries(p.tiers).map(([n, t]) => [n, t.shedPriority])), { free: 2, pro: 1, enterprise: 0 });
});

test('gauge keys must be metric names or label selectors, with the path of the bad key in the error', () => {
  const text = (key: string): string => `version: 1\nrules: []\nanalyzer:\n  load:\n    targets: { p99: 250ms }\n    metricsUrl: http://127.0.0.1:1/metrics\n    gauges: { ${JSON.stringify(key)}: 100 }\n`;
  for (const ok of ['queue_depth', 'process_cpu_ratio{core="0"}', 'http_inflight{route="/a",method="GET"}']) parse(text(ok));
  const r = parsePolicy(text('queue depth!'));
  assert.equal(r.ok, false);
  assert.match(formatPolicyErrors(r.ok ? [] : r.errors), /analyzer\.load\.gauges\["queue depth!"\]: key must be a metric name or a selector/);
});

test('analyzer.load.minMultiplier under 0.001 is refused: it would be published as 0 and block', () => {
  const text = (m: string): string => `version: 1\nrules: []\nanalyzer:\n  load:\n    targets: { p99: 250ms }\n    minMultiplier: ${m}\n`;
  for (const ok of ['0.001', '0.0015', '0.2', '1']) assert.equal(parse(text(ok)).analyzer.load!.minMultiplier, Number(ok));
  for (const bad of ['0.0004', '0.0009', '0', '-0.1']) {
    const r = parsePolicy(text(bad));
    assert.equal(r.ok, false, bad);
    assert.match(formatPolicyErrors(r.ok ? [] : r.errors), /analyzer\.load\.minMultiplier: .*must be (at least 0\.001|> 0)/, bad);
  }
  assert.match(errorsOf(text('0.0004')), /at least 0\.001 .*round to 0/);
});

test('analyzer.load needs something to judge by: a target, or metricsUrl with gauges (metricsUrl alone is refused)', () => {
  const text = (load: string): string => `version: 1\nrules: []\nanalyzer:\n  load:\n    ${load}\n`;
  for (const bad of ['targets: {}\n    metricsUrl: http://app:9100/metrics', 'targets: {}\n    metricsUrl: http://app:9100/metrics\n    gauges: {}', 'targets: {}', 'targets: {}\n    gauges: { queue_depth: 100 }']) {
    const r = parsePolicy(text(bad));
    assert.equal(r.ok, false, bad);
    assert.match(formatPolicyErrors(r.ok ? [] : r.errors), /analyzer\.load\.targets: needs at least one of p99, p50, errorRate/, bad);
  }
  assert.match(errorsOf(text('targets: {}\n    metricsUrl: http://app:9100/metrics')), /gauges/);
  parse(text('targets: {}\n    metricsUrl: http://app:9100/metrics\n    gauges: { queue_depth: 100 }'));
  parse(text('targets: { errorRate: 0.01 }'));
  // gauges without metricsUrl are never read: a warning when a target makes the section valid
  const r = parsePolicy(text('targets: { p99: 250ms }\n    gauges: { queue_depth: 100 }'));
  assert.ok(r.ok);
  assert.ok(r.warnings.some((w) => /gauges .*metricsUrl/.test(w)), JSON.stringify(r.warnings));
});

test('analyzer.load.metricsUrl must be http(s): a file: or other URL is refused with its path', () => {
  const text = (url: string): string => `version: 1\nrules: []\nanalyzer:\n  load:\n    targets: { p99: 250ms }\n    metricsUrl: ${url}\n    gauges: { queue_depth: 100 }\n`;
  for (const bad of ['file:///etc/passwd', 'ftp://app/metrics', 'data:text/plain,x']) assert.match(errorsOf(text(bad)), /analyzer\.load\.metricsUrl.*http:\/\/ or https:\/\//, bad);
  assert.equal(parse(text('https://app:9100/metrics')).analyzer.load!.metricsUrl, 'https://app:9100/metrics');
});
