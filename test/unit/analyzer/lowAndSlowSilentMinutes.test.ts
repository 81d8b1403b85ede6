/**
 * The low-and-slow rule reads "over the last 10 minutes": minutes in which the client sent nothing
 * count as minutes of nothing. A client with a stale token that retries three times once an hour is
 * not reported ten hours later as "30 of 30 requests answered 401/403 over the last 10 minutes".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, FEATURE_COUNT } from '../../../models/features.js';
import type { CallEvent } from '../../../models/events.js';
import { LowAndSlowState } from '../../../analyzer/detectors/rules.js';
import { DEFAULT_DETECTION } from '../../../analyzer/options.js';
import { ev } from './helpers.js';
import { setupAnalyzer } from './harness.js';

const t = DEFAULT_DETECTION.lowAndSlow;

function failures(requests: number): Float64Array {
  const v = new Float64Array(FEATURE_COUNT);
  v[F.requests] = requests;
  v[F.ratio401403] = 1;
  return v;
}

test('low and slow counts the silent minutes between windows: three failures an hour never fire', () => {
  const hourly = new LowAndSlowState(t.span);
  for (let h = 0; h < 24; h++) assert.equal(hourly.update(failures(3), t, 29_000_000 + h * 60), null, `hour ${h}`);
  // the same windows minute after minute are sustained failures
  const steady = new LowAndSlowState(t.span);
  let hit = null;
  for (let m = 0; m < t.span && !hit; m++) hit = steady.update(failures(3), t, 29_000_000 + m);
  assert.ok(hit, 'thirty failures in ten consecutive minutes fire');
  assert.match(hit.text, /over the last 10 minutes/);
  // one silent minute inside the span still leaves a sustained rate over it
  const gappy = new LowAndSlowState(t.span);
  for (let m = 0; m < 5; m++) assert.equal(gappy.update(failures(5), t, 29_000_000 + m), null);
  const after = gappy.update(failures(5), t, 29_000_000 + 6);
  assert.ok(after, 'a gap of a minute is just a minute: 30 failures within 7 minutes');
  assert.match(after.text, /over the last 7 minutes/);
});

test('the analyzer feeds the rule by minute: a client failing three logins once an hour is not reported as low and slow', async () => {
  const s = setupAnalyzer(`analyzer:\n  actions:\n    - { minScore: 0.5, action: block, ttl: 10m }\n`);
  const CLIENT = 'ip:198.51.100.7';
  const start = s.now;
  let lowAndSlow = 0;
  let scored60 = 0;
  for (let h = 0; h < 14; h++) {
    const at = start + h * 3_600_000;
    const burst: CallEvent[] = [0, 5_000, 10_000].map((d) => ev({ ts: at + d, client: CLIENT, ip: '198.51.100.7', method: 'POST', route: '/login', status: 401, uaHash: null }));
    s.now = at + 11_000;
    s.analyzer.ingest(burst);
    for (const step of [30_000, 90_000, 150_000]) {
      s.now = at + step;
      for (const w of (await s.analyzer.tick(s.now)).scored) {
        if (w.client !== CLIENT || w.sizeMs !== 60_000) continue;
        scored60++;
        if ((w.fusion.detectors.low_and_slow ?? 0) > 0) lowAndSlow++;
      }
    }
  }
  assert.equal(scored60, 14, 'one minute window per hour');
  assert.equal(lowAndSlow, 0, 'three failures an hour are not sustained failures');
});
