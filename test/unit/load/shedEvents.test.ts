/**
 * Requests shed by the adaptive concurrency limit are the upstream's state, not the client's
 * behaviour: they do not raise the client's ratio_limited or ratio_5xx features (so backend overload
 * cannot make every free client look abusive), and the load watcher does not read them as upstream
 * errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, FeatureContext, WindowAccumulator } from '../../../models/features.js';
import { SHED_RULE } from '../../../models/events.js';
import { ADAPTIVE_RULE } from '../../../sidecar/adaptive/index.js';
import { LoadWatcher } from '../../../analyzer/load/loadWatcher.js';
import { event } from './fixtures.js';

const T0 = 1_700_000_000_000;

test('the sidecar records sheds under the rule name the analyzer knows', () => {
  assert.equal(ADAPTIVE_RULE, SHED_RULE);
});

test('shed requests count as requests but not as limited or 5xx in the client features', () => {
  const acc = new WindowAccumulator(T0, 10_000, false);
  const ctx = new FeatureContext();
  for (let i = 0; i < 6; i++) acc.add(event(T0 + i, { status: 503, decision: 'limited', rule: SHED_RULE, latencyMs: 5 }), ctx);
  for (let i = 0; i < 4; i++) acc.add(event(T0 + 10 + i, { status: 200 }), ctx);
  const v = acc.vector();
  assert.equal(v[F.requests], 10);
  assert.equal(v[F.ratioLimited], 0);
  assert.equal(v[F.ratio5xx], 0);
  // a rule's own 429 still counts
  acc.add(event(T0 + 20, { status: 429, decision: 'limited', rule: 'per-key' }), ctx);
  assert.ok(acc.vector()[F.ratioLimited]! > 0);
});

test('the load watcher ignores shed requests for latency and errors but counts them as demand', () => {
  const w = new LoadWatcher();
  w.add(event(T0, { status: 503, decision: 'limited', rule: SHED_RULE, tier: 'free' }));
  w.add(event(T0, { status: 200, tier: 'free' }));
  const s = w.signals('shop', T0 + 1);
  assert.equal(s.count, 1);
  assert.equal(s.errorRate, 0);
  assert.equal(s.tierDemand.free, 2);
});
