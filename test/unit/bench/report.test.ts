/**
 * The printed report and the plots of a run: one main markdown table with a row per figure (peers
 * that could not run included, parts that were not selected left out), a detection table, the plots
 * linked; plot files per HTTP/engine/detection section, each well-formed. And the command line's
 * part selection and budgets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyResults, type BenchResults } from '../../../bench/report/shape.js';
import { mainRows, summaryMarkdown } from '../../../bench/report/summary.js';
import { holdScores, renderPlots } from '../../../bench/report/plots.js';
import { budget, PARTS, selectParts } from '../../../bench/report/parts.js';
import type { Timeline } from '../../../bench/report/detectionRecorder.js';
import { assertWellFormed } from './wellFormed.js';

const MACHINE = { cores: 2, cpu: 'cpu', memory_gb: 8, node: 'v20.20.0', redis: '7.0.15', kafka: '4.1.1', os: 'Linux', date: '2026-01-02T03:04:05.000Z', load_start: 1, load_end: 2 };

function results(): BenchResults {
  const r = emptyResults(MACHINE);
  r.cases = [
    { name: '@fastify/http-proxy (no limiter)', rps: 10_000, p50_ms: 4, p99_ms: 9, ratio_vs: {}, status: 'ok' },
    { name: 'ratewarden (Redis + Kafka events)', rps: 9_300, p50_ms: 4.2, p99_ms: 10, ratio_vs: { http_proxy: 0.93, fastify_rate_limit: 1.55 }, status: 'ok' },
    { name: 'nginx limit_req', rps: null, p50_ms: null, p99_ms: null, ratio_vs: {}, status: 'not installed', note: 'nginx not installed (apt-get install nginx-light)' },
  ];
  r.engine = [{ name: 'ratewarden Redis store, 1 rule', implementation: 'ratewarden', store: 'redis', rules: 1, decisions_per_s: 250_000, p50_ms: 1, p99_ms: 3, ratio_vs: { rate_limiter_flexible: 2.5 } }];
  r.propagation_ms = { p50: 3, p99: 12.8, samples: 600, sidecars: 3 };
  r.detection = { ...r.detection, scenarios: [{ name: 'scraping', recall: 1, precision: 1, false_alarms_per_10k_client_min: 0, ttd_s: 7, time_to_block_s: 9 }] };
  return r;
}

describe('summary markdown', () => {
  const md = summaryMarkdown(results(), { command: 'npm run bench', plots: ['bench/out/engine.svg'], reps: 3, durations: [{ part: 'engine', seconds: 80, status: 'ok' }] });

  it('states the date, the machine and how figures were taken', () => {
    assert.match(md, /Benchmarks \(2026-01-02\)/);
    assert.match(md, /2 cores \(cpu\), 8 GB · Node v20\.20\.0 · Redis 7\.0\.15 · Kafka 4\.1\.1/);
    assert.match(md, /medians of 3 repetitions/);
  });

  it('has one main table with a row per measured figure', () => {
    const tables = md.split('\n\n').filter((b) => b.startsWith('| '));
    assert.equal(tables.length, 2); // main + detection
    assert.match(tables[0]!, /^\| part +\| case/);
    assert.equal(tables[0]!.split('\n').length, 2 + mainRows(results()).length);
  });

  it('reports a peer that could not be installed instead of dropping it', () => {
    assert.match(md, /\| sidecar +\| nginx limit_req +\| not installed: nginx not installed \(apt-get install nginx-light\)/);
  });

  it('puts the ratios against peers next to ratewarden figures', () => {
    assert.match(md, /ratewarden \(Redis \+ Kafka events\) +\| 9,300 req\/s .*0\.93× @fastify\/http-proxy · 1\.55× @fastify\/rate-limit/);
    assert.match(md, /250,000 decisions\/s .*2\.50× rate-limiter-flexible/);
  });

  it('checks the propagation target', () => {
    assert.match(md, /target p99 < 50 ms: met/);
  });

  it('leaves out parts that were not selected', () => {
    assert.doesNotMatch(md, /not run/);
    assert.doesNotMatch(md, /^\| events/m);
  });

  it('shows a part that failed, with the reason', () => {
    const r = results();
    r.load = { goodput_ratio: null, p99_ratio: null, enterprise_success: null, react_s: null, skipped: 'failed: upstream did not start' };
    assert.ok(mainRows(r).some((row) => row[0] === 'load' && row[2] === 'failed: upstream did not start'));
  });

  it('links the plots and says how to reproduce', () => {
    assert.match(md, /\[engine\.svg\]\(bench\/out\/engine\.svg\)/);
    assert.match(md, /Reproduce: `npm run bench`/);
  });
});

describe('plots of a run', () => {
  const timeline: Timeline = {
    label: { id: 'scraping#1', scenario: 'scraping', clients: ['apiKey:s'], onsetMs: 600_000, endMs: 1_200_000 },
    fromMs: 300_000,
    bucketMs: 10_000,
    attacker: Float64Array.from({ length: 120 }, (_, i) => (i < 30 ? Number.NaN : 0.9)),
    normal: Float64Array.from({ length: 120 }, () => 0.2),
  };
  const files = renderPlots(results(), {
    timelines: [timeline],
    reports: [{ client: 'apiKey:s', ts: 612_000, score: 0.95, action: 'block', detector: 'scraping' }, { client: 'apiKey:n', ts: 700_000, score: 0.7, action: 'tighten' }],
    blocks: [{ client: 'apiKey:s', ts: 620_000 }],
    thresholds: [{ y: 0.9, label: 'block ≥ 0.9' }],
  });

  it('draws throughput and latency per HTTP case, the engine, and one timeline per attack', () => {
    assert.deepEqual([...files.keys()].sort(), ['detection-scraping-1.svg', 'engine-latency.svg', 'engine.svg', 'sidecar-latency.svg', 'sidecar-throughput.svg']);
  });

  it('writes every plot as well-formed SVG', () => {
    for (const [name, svg] of files) assert.doesNotThrow(() => assertWellFormed(svg), name);
  });

  it('leaves cases without a figure out of the bar charts', () => {
    assert.doesNotMatch(files.get('sidecar-throughput.svg')!, /nginx/);
    assert.equal((files.get('sidecar-latency.svg')!.match(/class="series"/g) ?? []).length, 2);
  });

  it('marks the first report, the first block and a false alarm on the timeline, the attack shaded', () => {
    const svg = files.get('detection-scraping-1.svg')!;
    assert.match(svg, /reported \+12 s \(scraping\)/);
    assert.match(svg, /blocked \+20 s/);
    assert.match(svg, /false alarm \(apiKey:n\)/);
    assert.equal((svg.match(/<g class="band">/g) ?? []).length, 1);
    assert.equal((svg.match(/class="series"/g) ?? []).length, 2);
  });
});

describe('part selection and budgets', () => {
  it('runs everything for no part or "all", in the fixed order', () => {
    assert.deepEqual(selectParts([]), [...PARTS]);
    assert.deepEqual(selectParts(['all']), [...PARTS]);
  });

  it('expands the sidecar and analyzer groups and keeps run order whatever the command-line order', () => {
    assert.deepEqual(selectParts(['sidecar']), ['http', 'propagation', 'events']);
    assert.deepEqual(selectParts(['nab', 'engine', 'analyzer']), ['engine', 'ingest', 'detection', 'nab']);
  });

  it('refuses an unknown part, naming the valid ones', () => {
    assert.throws(() => selectParts(['bogus']), /unknown part 'bogus'.*engine/);
  });

  it('repeats throughput parts three times in a full run and once with --quick, unless told', () => {
    assert.equal(budget(false).reps, 3);
    assert.equal(budget(true).reps, 1);
    assert.equal(budget(true, 2).reps, 2);
    assert.ok(budget(false).blocks >= 100 && budget(true).blocks >= 100, 'a p99 needs at least 100 blocks');
  });
});

describe('timeline score holding', () => {
  it('holds a window score across empty buckets for up to 60 s, then breaks the line', () => {
    const nan = Number.NaN;
    const held = holdScores(Float64Array.from([nan, 0.5, nan, nan, nan, nan, nan, nan, 0.9]), 10_000);
    assert.deepEqual(held, [null, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, null, 0.9]);
  });
});
