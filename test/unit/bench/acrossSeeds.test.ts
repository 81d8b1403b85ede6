/** The multi-seed summary of `node dist/bench/analyzer/detection.js --seeds A-B`: per scenario over every seed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acrossSeeds, parseDetectionOverrides, type DetectionEval, type LabelResult } from '../../../bench/analyzer/detection.js';

function label(scenario: string, ttd: number | null, first: number | null, calls: number | null): LabelResult {
  return { id: `${scenario}#0`, scenario, clients: 1, detectedClients: ttd === null ? 0 : 1, detected: ttd !== null, timeToDetectS: ttd, firstCallS: first, callsToDetect: calls, firstDetector: null };
}

function run(falseAlarms: number, clientMinutes: number, labels: LabelResult[]): DetectionEval {
  return { recall: 1, clientRecall: 1, falseAlarms, clientMinutes, falseAlarmsPer10kClientMinutes: 0, medianTimeToDetectS: null, maxTimeToDetectS: null, labels, falseAlarmSamples: [], falseAlarmsByDetector: {}, serviceReports: 0, attackCalls: new Map(), events: 0, seconds: 0 };
}

test('summarises each scenario over the seeds: detected, time to detect, within 30 s, the attack pace', () => {
  const text = acrossSeeds([
    run(1, 40_000, [label('scraping', 7, 0.3, 20), label('key-sharing', 75, 2.1, 3)]),
    run(0, 60_000, [label('scraping', 9, 0.2, 22), label('key-sharing', null, 45.5, null)]),
    run(2, 50_000, [label('scraping', 8, 0.1, 21), label('key-sharing', 25, 4.9, 3)]),
  ]);
  assert.match(text, /false alarms 3 in 150000 normal client-minutes \(0\.20 per 10k\)/);
  assert.match(text, /\| scraping \| 3\/3 \| 8 · 9 \| 3\/3 \| 0 · 0 \| 21 \|/);
  assert.match(text, /\| key-sharing \| 2\/3 \| 25 · 75 \| 1\/3 \| 5 · 46 \| 3 \|/);
});

test('--options backtests detection options over the defaults and refuses what it does not know', () => {
  assert.equal(parseDetectionOverrides(undefined), null);
  assert.deepEqual(parseDetectionOverrides('{"youngVolumeFactor":3}'), { youngVolumeFactor: 3 });
  assert.deepEqual(parseDetectionOverrides('{"compromisedKey":{"minRequests":5,"minNewIps":2}}'), { compromisedKey: { minRequests: 5, minNewIps: 2 } });
  assert.throws(() => parseDetectionOverrides('{"youngVolumeFactr":3}'), /unknown option\(s\) youngVolumeFactr/);
  assert.throws(() => parseDetectionOverrides('{"youngVolumeFactor":"3"}'), /must be a number/);
  assert.throws(() => parseDetectionOverrides('{"compromisedKey":{"minRequests":5}}'), /needs all its fields.*minNewIps/);
  assert.throws(() => parseDetectionOverrides('[1]'), /expected a JSON object/);
  assert.throws(() => parseDetectionOverrides('{'), /not JSON/);
});
