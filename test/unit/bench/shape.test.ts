/**
 * bench/results.json keeps one stable shape across runs: every section present, figures numbers or
 * null, extra detail allowed inside sections but never as new top-level keys.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyResults, validateResults, type BenchResults } from '../../../bench/report/shape.js';
import type { MachineInfo } from '../../../bench/machine.js';

const MACHINE: MachineInfo = { cores: 2, cpu: 'test cpu', memory_gb: 8, node: 'v20.20.0', redis: '7.0.15', kafka: '4.1.1', os: 'Linux', date: '2026-01-01T00:00:00.000Z', load_start: 1.5, load_end: 2 };

function full(): BenchResults {
  const r = emptyResults(MACHINE);
  r.cases = [
    { name: 'ratewarden (Redis + Kafka events)', rps: 12000, p50_ms: 3.1, p99_ms: 9.8, ratio_vs: { http_proxy: 0.93, fastify_rate_limit: 1.7 }, status: 'ok', reps: [11900, 12000, 12100] },
    { name: 'nginx limit_req', rps: null, p50_ms: null, p99_ms: null, ratio_vs: {}, status: 'not installed', note: 'nginx not installed' },
  ];
  r.engine = [{ name: 'ratewarden Redis store, 1 rule', implementation: 'ratewarden', store: 'redis', rules: 1, decisions_per_s: 300000, p50_ms: 0.8, p99_ms: 2, ratio_vs: { rate_limiter_flexible: 2.4 } }];
  r.propagation_ms = { p50: 3, p99: 12, samples: 600 };
  r.events = { sent_per_s: 9000, dropped: 0, on_topic: 45000 };
  r.analyzer = { events_per_s: 90000, lag_at_50k: { max_lag: 10 } };
  r.detection = {
    nab_dev: { standard: 72.8, low_fp: 68.3, low_fn: 77.4, files: 19 },
    scenarios: [{ name: 'scraping', recall: 1, precision: 1, false_alarms_per_10k_client_min: 0, ttd_s: 7, time_to_block_s: 9 }],
  };
  r.load = { goodput_ratio: 0.97, p99_ratio: 1.6, enterprise_success: 0.995, react_s: 1.2, recovery_s: 3 };
  return r;
}

describe('results.json shape', () => {
  it('accepts a run where no part ran: every section present with null figures', () => {
    assert.deepEqual(validateResults(emptyResults(MACHINE)), []);
  });

  it('accepts a complete run with extra detail inside the sections', () => {
    assert.deepEqual(validateResults(full()), []);
  });

  it('rejects a missing top-level section and names it', () => {
    const { load: _load, ...rest } = full();
    const problems = validateResults(rest);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^load: /);
  });

  it('rejects a new top-level key, so the shape cannot drift', () => {
    const problems = validateResults({ ...full(), extra: 1 });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /extra/);
  });

  it('rejects a figure that is absent instead of null', () => {
    const r = full() as unknown as { events: Record<string, unknown> };
    delete r.events.dropped;
    assert.deepEqual(validateResults(r).map((p) => p.split(':')[0]), ['events.dropped']);
  });

  it('rejects non-finite figures, which JSON would write as null silently', () => {
    const r = full();
    r.propagation_ms.p99 = Number.NaN;
    assert.deepEqual(validateResults(r).map((p) => p.split(':')[0]), ['propagation_ms.p99']);
  });

  it('reports the path of a malformed HTTP case', () => {
    const r = full() as unknown as { cases: Array<Record<string, unknown>> };
    r.cases[1]!.rps = '12k';
    r.cases[0]!.status = 'great';
    assert.deepEqual(validateResults(r).map((p) => p.split(':')[0]).sort(), ['cases.0.status', 'cases.1.rps']);
  });

  it('requires each detection scenario to carry all five figures', () => {
    const r = full() as unknown as { detection: { scenarios: Array<Record<string, unknown>> } };
    delete r.detection.scenarios[0]!.time_to_block_s;
    assert.deepEqual(validateResults(r).map((p) => p.split(':')[0]), ['detection.scenarios.0.time_to_block_s']);
  });

  it('requires an ISO date in the machine section', () => {
    const r = full();
    r.machine = { ...r.machine, date: 'yesterday' };
    assert.deepEqual(validateResults(r).map((p) => p.split(':')[0]), ['machine.date']);
  });
});
