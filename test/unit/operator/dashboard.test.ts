import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/infra.js';

/** The metric names of DESIGN.md ("Metrics"), with the `ratewarden_` prefix; histograms expose _bucket/_sum/_count. */
const COUNTERS_AND_GAUGES = [
  'requests_total',
  'store_errors_total',
  'events_buffered',
  'events_sent_total',
  'events_dropped_total',
  'control_seq',
  'events_consumed_total',
  'consumer_lag',
  'anomalies_total',
  'active_blocks',
  'active_overrides',
  'load_multiplier',
];
const HISTOGRAMS = ['decision_seconds', 'upstream_seconds', 'control_apply_seconds'];
const ALLOWED = new Set([...COUNTERS_AND_GAUGES.map((m) => `ratewarden_${m}`), ...HISTOGRAMS.flatMap((m) => ['_bucket', '_sum', '_count'].map((s) => `ratewarden_${m}${s}`))]);

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'le', 'inf', 'nan']);

interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'helm/ratewarden/dashboards/ratewarden.json'), 'utf8')) as { schemaVersion: number; panels: Panel[]; __inputs: Array<{ name: string }> };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Metric names in a PromQL expression: identifiers outside strings, label matchers, ranges and by/without lists that are not function calls. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = stripped.slice(m.index! + m[0].length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

test('the dashboard is a Grafana schemaVersion 39 document with a DS_PROMETHEUS input', () => {
  assert.equal(dashboard.schemaVersion, 39);
  assert.deepEqual(dashboard.__inputs.map((i) => i.name), ['DS_PROMETHEUS']);
});

test('every panel and query uses the ${DS_PROMETHEUS} data source', () => {
  for (const p of panels) {
    assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', p.title);
    for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${DS_PROMETHEUS}', p.title);
  }
});

test('every PromQL expression references only DESIGN.md metric names with the ratewarden_ prefix', () => {
  assert.ok(exprs.length >= 15, `only ${exprs.length} expressions`);
  for (const { panel, expr } of exprs) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `${panel}: no metric in ${expr}`);
    for (const name of names) assert.ok(ALLOWED.has(name), `${panel}: ${name} is not a metric of DESIGN.md (in ${expr})`);
  }
});

test('histograms are read through their _bucket series with histogram_quantile', () => {
  for (const { panel, expr } of exprs) {
    for (const h of HISTOGRAMS) {
      if (!expr.includes(`ratewarden_${h}`)) continue;
      assert.match(expr, new RegExp(`histogram_quantile\\(0\\.\\d+, sum by \\(le\\) \\(rate\\(ratewarden_${h}_bucket`), panel);
    }
  }
});

test('every DESIGN.md metric appears on the dashboard', () => {
  const used = new Set(exprs.flatMap(({ expr }) => metricNames(expr)).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
  for (const m of [...COUNTERS_AND_GAUGES, ...HISTOGRAMS]) assert.ok(used.has(`ratewarden_${m}`), `ratewarden_${m} has no panel`);
});

test('the metric-name extractor ignores functions, label matchers and grouping labels', () => {
  assert.deepEqual(metricNames('sum by (decision) (rate(ratewarden_requests_total{decision=~"limited|blocked"}[5m]))'), ['ratewarden_requests_total']);
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m]))) / on (pod) y'), ['x_bucket', 'y']);
});
