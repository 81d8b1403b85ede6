/**
 * Per-scenario detection figures from one run's labels, reports, blocks and normal activity: recall
 * over attacking clients, precision and false alarms attributed by time, time to detect and to block.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attackTiming, detectionFigures, type DetectionInput, type LabelSpan } from '../../../bench/report/detectionFigures.js';

const MIN = 60_000;
const T0 = 1_000 * MIN;
const labels: LabelSpan[] = [
  { id: 'scraping#0', scenario: 'scraping', clients: ['apiKey:s'], onsetMs: T0 + 10 * MIN, endMs: T0 + 20 * MIN },
  { id: 'credential-stuffing#1', scenario: 'credential-stuffing', clients: ['ip:1', 'ip:2', 'ip:3', 'ip:4'], onsetMs: T0 + 40 * MIN, endMs: T0 + 50 * MIN },
];
// 100 normal clients active in every minute of the hour
const normalMinutes = new Map(Array.from({ length: 60 }, (_, i) => [Math.floor(T0 / MIN) + i, 100] as [number, number]));

function input(over: Partial<DetectionInput> = {}): DetectionInput {
  return {
    labels,
    reports: [
      { client: 'apiKey:s', ts: labels[0]!.onsetMs + 12_000, score: 0.95, action: 'block', detector: 'scraping' },
      { client: 'apiKey:s', ts: labels[0]!.onsetMs + 90_000, score: 0.8, action: 'tighten' },
      { client: 'ip:1', ts: labels[1]!.onsetMs + 30_000, score: 0.91, action: 'block', detector: 'credential_stuffing' },
      { client: 'ip:2', ts: labels[1]!.endMs + 60_000, score: 0.9, action: 'block' }, // within the 2 min grace
      { client: 'apiKey:normal', ts: labels[1]!.onsetMs + 5 * MIN, score: 0.75, action: 'tighten' }, // false alarm during stuffing
      { client: 'apiKey:other', ts: T0 + 30 * MIN, score: 0.8, action: 'tighten' }, // false alarm between attacks
      { client: 'ip:3', ts: labels[1]!.endMs + 10 * MIN, score: 0.9, action: 'block' }, // too late: false
    ],
    blocks: [
      { client: 'apiKey:s', ts: labels[0]!.onsetMs + 20_000 },
      { client: 'ip:1', ts: labels[1]!.onsetMs + 45_000 },
    ],
    normalMinutes,
    graceMs: 2 * MIN,
    ...over,
  };
}

describe('detection figures per scenario', () => {
  const { scenarios, overall } = detectionFigures(input());
  const by = new Map(scenarios.map((s) => [s.name, s]));

  it('has one row per scenario, in label order', () => {
    assert.deepEqual(scenarios.map((s) => s.name), ['scraping', 'credential-stuffing']);
  });

  it('counts recall over attacking clients reported within the attack and its grace', () => {
    assert.equal(by.get('scraping')!.recall, 1);
    assert.equal(by.get('credential-stuffing')!.recall, 0.5);
  });

  it('measures time to detect and to block from the onset', () => {
    assert.equal(by.get('scraping')!.ttd_s, 12);
    assert.equal(by.get('scraping')!.time_to_block_s, 20);
    assert.equal(by.get('credential-stuffing')!.ttd_s, 30);
    assert.equal(by.get('credential-stuffing')!.time_to_block_s, 45);
  });

  it('attributes false alarms to the scenario during which they were raised', () => {
    assert.equal(by.get('scraping')!.precision, 1);
    assert.equal(by.get('scraping')!.false_alarms_per_10k_client_min, 0);
    // stuffing: 2 true reports, 1 false alarm within [onset, end + 2 min] (13 minutes × 100 clients)
    assert.equal(by.get('credential-stuffing')!.precision, 0.667);
    assert.equal(by.get('credential-stuffing')!.client_minutes, 1300);
    assert.equal(by.get('credential-stuffing')!.false_alarms_per_10k_client_min, 7.692);
  });

  it('names the detector of the first true report', () => {
    assert.equal(by.get('credential-stuffing')!.first_detector, 'credential_stuffing');
  });

  it('counts the whole run overall: late reports and reports between attacks are false alarms', () => {
    assert.equal(overall.recall, 1);
    assert.equal(overall.false_alarms, 3);
    assert.equal(overall.client_minutes, 6000);
    assert.equal(overall.false_alarms_per_10k_client_min, 5);
    assert.equal(overall.precision, 0.571);
    assert.equal(overall.client_recall, 0.6);
  });

  it('gives null times and zero recall for an attack nobody reported', () => {
    const s = detectionFigures(input({ reports: [], blocks: [] })).scenarios[0]!;
    assert.equal(s.recall, 0);
    assert.equal(s.ttd_s, null);
    assert.equal(s.time_to_block_s, null);
    assert.equal(s.precision, null);
  });

  it('separates the pace of the attack from the detector: its first call and its calls until detected', () => {
    const onset = labels[0]!.onsetMs;
    const calls = new Map([['scraping#0', [onset + 4_000, onset + 7_000, onset + 12_000, onset + 30_000]]]);
    const s = detectionFigures(input({ attackCalls: calls })).scenarios[0]!;
    assert.equal(s.first_call_s, 4);
    assert.equal(s.calls_to_detect, 3, 'the call at the report time counts');
    assert.equal(detectionFigures(input()).scenarios[0]!.first_call_s, undefined, 'absent without call times');
    assert.deepEqual(attackTiming([onset + 50_000], onset, null), { firstCallS: 50, callsToDetect: null });
    assert.deepEqual(attackTiming([], onset, onset + 1), { firstCallS: null, callsToDetect: null });
  });
});
