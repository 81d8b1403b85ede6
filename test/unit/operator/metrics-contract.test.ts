/**
 * The metrics contract, checked on the running programs: a sidecar and an analyzer in-process (as
 * the demo runs them), each scraped over HTTP. Every DESIGN.md metric is exported by the program it
 * names — and not by the other — with exactly that name, type and label set; and docs/OPERATIONS.md
 * ("What to watch") lists every metric each program exports, one line each, with its type and
 * labels, and nothing it does not export.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { startAnalyzer, type RunningAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { MemoryReportPublisher } from '../../../analyzer/reports/publisher.js';
import { loadControl } from '../../../analyzer/load/index.js';
import { httpRequest, startStubUpstream, waitFor, type StubUpstream } from '../../helpers/proc.js';
import { events } from '../load/fixtures.js';

type Kind = 'counter' | 'gauge' | 'histogram';

/** DESIGN.md "Metrics (prom-client, prefix `ratewarden_`)": name, type, labels, per program. */
const CONTRACT: Record<'sidecar' | 'analyzer', ReadonlyArray<readonly [string, Kind, readonly string[]]>> = {
  sidecar: [
    ['requests_total', 'counter', ['rule', 'decision']],
    ['decision_seconds', 'histogram', []],
    ['upstream_seconds', 'histogram', []],
    ['store_errors_total', 'counter', []],
    ['events_buffered', 'gauge', []],
    ['events_sent_total', 'counter', []],
    ['events_dropped_total', 'counter', []],
    ['control_seq', 'gauge', []],
    ['control_apply_seconds', 'histogram', []],
  ],
  analyzer: [
    ['events_consumed_total', 'counter', []],
    ['consumer_lag', 'gauge', []],
    ['anomalies_total', 'counter', ['detector', 'action']],
    ['active_blocks', 'gauge', []],
    ['active_overrides', 'gauge', []],
    ['load_multiplier', 'gauge', ['service']],
  ],
};

const PREFIX = 'ratewarden_';
/** prom-client's default metrics (collectDefaultMetrics with a per-program prefix): one docs line per program. */
const DEFAULTS = /^ratewarden_(sidecar|analyzer)_(process|nodejs)_/;

interface Family {
  type: string;
  /** Label names seen on samples (histograms: without `le`) and declared on the registry's metric. */
  labels: Set<string>;
  samples: number;
}

/** The exposition's families: TYPE lines, and the label names of their samples. */
function families(text: string, registry: Registry): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      const declared = (registry.getSingleMetric(t[1]!) as unknown as { labelNames?: readonly string[] } | undefined)?.labelNames ?? [];
      out.set(t[1]!, { type: t[2]!, labels: new Set(declared), samples: 0 });
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s/.exec(line);
    assert.ok(m, `unparseable sample line: ${line}`);
    const name = m[1]!;
    const family = out.get(name) ?? out.get(name.replace(/_(bucket|sum|count)$/, ''));
    assert.ok(family, `a sample without a TYPE line: ${line}`);
    family.samples++;
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) if (!(family.type === 'histogram' && pair[1] === 'le')) family.labels.add(pair[1]!);
  }
  return out;
}

/** Rows of the table after `heading` in OPERATIONS.md's "What to watch": metric name → type and labels. */
function docsTable(doc: string, heading: string): Map<string, { type: string; labels: string[]; contract: boolean }> {
  const section = doc.slice(doc.indexOf('## What to watch'), doc.indexOf('\n## ', doc.indexOf('## What to watch') + 1));
  const at = section.indexOf(heading);
  assert.ok(at >= 0, `OPERATIONS.md: no "${heading}" in What to watch`);
  const rows = new Map<string, { type: string; labels: string[]; contract: boolean }>();
  const lines = section.slice(at).split('\n');
  let i = lines.findIndex((l) => l.startsWith('|'));
  assert.ok(i >= 0, `OPERATIONS.md: no table after "${heading}"`);
  for (; i < lines.length && lines[i]!.startsWith('|'); i++) {
    const cells = lines[i]!.split('|').map((c) => c.trim());
    const cell = cells[1]!;
    if (cell === 'metric' || /^-+$/.test(cell)) continue;
    if (cell.includes('_*`')) continue; // the prom-client defaults line (`…_process_*`, `…_nodejs_*`)
    const m = /^(\*\*)?`([a-z0-9_]+)(?:\{([a-z_,]*)\})?`(\*\*)?$/.exec(cell);
    assert.ok(m, `OPERATIONS.md: a metric cell that is not one \`name{labels}\`: ${cell}`);
    assert.ok(!rows.has(m[2]!), `OPERATIONS.md: ${m[2]} listed twice`);
    rows.set(m[2]!, { type: cells[2]!, labels: m[3] ? m[3].split(',') : [], contract: m[1] === '**' });
  }
  assert.ok(rows.size > 0, `OPERATIONS.md: an empty table after "${heading}"`);
  return rows;
}

const POLICY_TEXT = `version: 1
identity: { apiKey: { header: x-api-key } }
tiers: { free: {}, pro: { multiplier: 10 } }
store: { kind: memory }
upstream: { adaptiveConcurrency: { strategy: aimd, minLimit: 2, maxLimit: 50, initialLimit: 20 } }
rules:
  - { id: per-key, match: { path: "/api/**" }, key: [apiKey], algorithm: fixed-window, limit: 2, window: 60s }
analyzer:
  load:
    targets: { p99: 250ms }
    interval: 100ms
`;

let up: StubUpstream;
let sidecar: RunningSidecar;
let analyzer: RunningAnalyzer;
const scraped: Record<'sidecar' | 'analyzer', Map<string, Family>> = { sidecar: new Map(), analyzer: new Map() };

before(async () => {
  const parsed = parsePolicy(POLICY_TEXT);
  assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.errors));
  const policy: Policy = parsed.policy;
  up = await startStubUpstream();
  sidecar = await startSidecar({
    policy,
    upstream: up.url,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    eventSink: new MemoryEventBus(),
    controlPlane: new MemoryControlPlane(),
    logger: silentLogger(),
    service: 'svc',
    drainSeconds: 1,
  });
  const bus = new MemoryEventBus();
  const load = loadControl();
  analyzer = await startAnalyzer({
    policy,
    source: load.tap(bus),
    controlPlane: new MemoryControlPlane(),
    reports: new MemoryReportStore(),
    publisher: new MemoryReportPublisher(),
    listen: { host: '127.0.0.1', port: 0 },
    plugins: [load.plugin],
    model: null,
    logger: false,
  });
  // traffic: allowed and limited requests through the sidecar; a slow service for the analyzer's load loop
  for (let i = 0; i < 3; i++) await httpRequest(`${sidecar.address}/api/x`, { headers: { 'x-api-key': 'k1' } });
  const feed = setInterval(() => {
    for (const e of events(20, Date.now() - 900, 50, () => ({ latencyMs: 900 }))) bus.publish(e);
  }, 50);
  try {
    await waitFor(async () => (await (await fetch(`${analyzer.address}/metrics`)).text()).includes('ratewarden_load_multiplier{service="shop"}'), 'a load_multiplier sample', 10_000);
  } finally {
    clearInterval(feed);
  }
  scraped.sidecar = families((await httpRequest(`${sidecar.adminAddress}/metrics`)).text, sidecar.metrics.registry);
  scraped.analyzer = families(await (await fetch(`${analyzer.address}/metrics`)).text(), analyzer.state.metrics.registry);
});

after(async () => {
  await sidecar?.close();
  await analyzer?.close();
  await up?.close();
});

for (const program of ['sidecar', 'analyzer'] as const) {
  test(`the ${program} exports every DESIGN.md metric of its own with that name, type and labels, and none of the other's`, () => {
    const got = scraped[program];
    for (const [name, type, labels] of CONTRACT[program]) {
      const f = got.get(PREFIX + name);
      assert.ok(f, `${program}: ${PREFIX}${name} is not exported`);
      assert.equal(f.type, type, `${program}: ${PREFIX}${name} is a ${f.type}, the contract says ${type}`);
      assert.deepEqual([...f.labels].sort(), [...labels].sort(), `${program}: ${PREFIX}${name} labels`);
    }
    // the labelled ones were seen with samples carrying exactly those labels
    for (const name of program === 'sidecar' ? ['requests_total'] : ['load_multiplier']) assert.ok(got.get(PREFIX + name)!.samples > 0, `${program}: no ${name} sample`);
    const other = program === 'sidecar' ? 'analyzer' : 'sidecar';
    for (const [name] of CONTRACT[other]) assert.ok(!got.has(PREFIX + name), `${program} exports the ${other}'s ${PREFIX}${name}`);
  });

  test(`docs/OPERATIONS.md lists every metric the ${program} exports, one line each, with its type and labels`, () => {
    const doc = readFileSync(new URL('../../../docs/OPERATIONS.md', import.meta.url), 'utf8');
    const rows = docsTable(doc, program === 'sidecar' ? 'Sidecar (admin listener' : 'Analyzer (`/metrics`)');
    const got = scraped[program];
    const exported = [...got.keys()].filter((n) => !DEFAULTS.test(n));
    assert.ok([...got.keys()].some((n) => DEFAULTS.test(n)), `${program}: the prom-client defaults are exported (one docs line)`);
    for (const full of exported) {
      assert.ok(full.startsWith(PREFIX), `${program}: ${full} lacks the ${PREFIX} prefix`);
      const name = full.slice(PREFIX.length);
      const row = rows.get(name);
      assert.ok(row, `${program}: ${name} is exported but not in OPERATIONS.md`);
      assert.equal(row.type, got.get(full)!.type, `OPERATIONS.md: the type of ${name}`);
      assert.deepEqual([...row.labels].sort(), [...got.get(full)!.labels].sort(), `OPERATIONS.md: the labels of ${name}`);
    }
    for (const name of rows.keys()) assert.ok(got.has(PREFIX + name), `OPERATIONS.md lists ${name}, which the ${program} does not export`);
    const contract = CONTRACT[program].map(([n]) => n).sort();
    assert.deepEqual([...rows].filter(([, r]) => r.contract).map(([n]) => n).sort(), contract, 'the DESIGN.md names (and only they) are in bold');
  });
}
