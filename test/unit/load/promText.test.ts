/** The Prometheus text exposition reader and gauge selection for `analyzer.load.metricsUrl`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposition, parseSelector, selectGauge } from '../../../analyzer/load/promText.js';
import { GaugeScraper } from '../../../analyzer/load/gaugeScraper.js';

const TEXT = `# HELP queue_depth Requests waiting
# TYPE queue_depth gauge
queue_depth 42
process_cpu_ratio{core="0"} 0.5
process_cpu_ratio{core="1"} 0.93 1700000000000
http_in_flight{route="/a\\"b",method="GET"} 7
weird{} +Inf
nan_value NaN
this is not a sample
bad{label=unquoted} 1
`;

test('sample lines are read with their labels, escapes, timestamps and special values; malformed lines are counted', () => {
  const { samples, malformed } = parseExposition(TEXT);
  assert.equal(malformed, 2);
  assert.deepEqual(samples[0], { name: 'queue_depth', labels: {}, value: 42 });
  assert.equal(samples[2]!.value, 0.93);
  assert.deepEqual(samples[3]!.labels, { route: '/a"b', method: 'GET' });
  assert.equal(samples[4]!.value, Infinity);
  assert.ok(Number.isNaN(samples[5]!.value));
});

test('a selector without labels takes the largest matching series; with labels, only matching ones', () => {
  const { samples } = parseExposition(TEXT);
  assert.equal(selectGauge(samples, parseSelector('process_cpu_ratio')!), 0.93);
  assert.equal(selectGauge(samples, parseSelector('process_cpu_ratio{core="0"}')!), 0.5);
  assert.equal(selectGauge(samples, parseSelector('missing')!), null);
  assert.equal(selectGauge(samples, parseSelector('nan_value')!), null, 'NaN is no value');
  assert.equal(parseSelector('not a selector'), null);
});

test('the scraper returns the configured gauges, lists missing ones, and counts a failed scrape', async () => {
  let fail = false;
  const scraper = new GaugeScraper('http://upstream/metrics', { queue_depth: 100, missing_gauge: 1 }, async () => {
    if (fail) throw new Error('connect ECONNREFUSED');
    return TEXT;
  });
  assert.deepEqual(await scraper.scrape(), { values: { queue_depth: 42 }, missing: ['missing_gauge'] });
  fail = true;
  assert.equal(await scraper.scrape(), null);
  assert.equal(scraper.errors, 1);
  assert.match(scraper.lastError!, /ECONNREFUSED/);
});

test('a gauge key that is not a metric selector is refused when the scraper is built', () => {
  assert.throws(() => new GaugeScraper('http://x/metrics', { 'not valid!': 1 }), /not a metric name or selector/);
});
