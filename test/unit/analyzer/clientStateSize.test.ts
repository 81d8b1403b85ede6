/**
 * The per-client size to size `maxClients` with (`ClientState.heapBytes`) is what a client really
 * costs on the heap: typed arrays' element bytes plus the JS objects around them (a typed array's
 * view and ArrayBuffer, boxed number fields), measured here with the garbage collector exposed.
 * The element bytes alone, the figure analyzer/README.md gave before, were about half of it.
 *
 * The series detector's state (analyzer/detectors/series, its own `stateBytes`) is left out: it
 * is sized by its own module.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ClientState } from '../../../analyzer/clientState.js';
import { HourOfWeekProfile } from '../../../analyzer/baselines/seasonal.js';
import { detectionOptions } from '../../../analyzer/options.js';
import { KeyIdentities } from '../../../analyzer/recentIps.js';
import { FEATURE_COUNT, WindowAccumulator } from '../../../models/features.js';
import { T0, ev } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const opts = detectionOptions({});
const N = 3_000;

function measure(make: (i: number) => ClientState): { measured: number; claimed: number } {
  const keep: ClientState[] = [];
  gc();
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < N; i++) keep.push(make(i));
  gc();
  gc();
  const after = process.memoryUsage();
  let claimed = 0;
  for (const st of keep) {
    claimed += st.heapBytes;
  }
  const measured = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  return { measured: measured / N, claimed: claimed / N };
}

/** A client with one open window holding `events` events. */
function firstEvents(i: number, events: number): ClientState {
  const st = new ClientState(`apiKey:${String(i).padStart(16, '0')}`, 'free', 0, opts);
  const w = new WindowAccumulator(T0, 10_000, false);
  for (let k = 0; k < events; k++) w.add(ev({ ts: T0 + k, route: `/api/items/${k}`, ip: `10.0.${i % 250}.${k}` }), st.ctx);
  st.windows.push(w);
  st.current = w;
  return st;
}

/** An established keyed client: baselines, recent windows, identities, hour-of-week profile. */
function established(i: number): ClientState {
  const st = firstEvents(i, 3);
  const x = new Float64Array(FEATURE_COUNT);
  st.ids = new KeyIdentities(1);
  st.seasonal = new HourOfWeekProfile();
  for (let k = 0; k < 40; k++) {
    x.fill(1 + (k % 7));
    st.b10.learn(x);
    st.b60.learn(x);
    st.recent10.push(T0 + k, 0.1, x, 1, 1);
    st.recent60.push(T0 + k, 0.1, x, 1, 1);
    st.ids.observe(k * 7919 + i, (k % 5) + 1, 100 + k);
  }
  return st;
}

function within(what: string, { measured, claimed }: { measured: number; claimed: number }): void {
  console.log(`${what}: heapBytes ${Math.round(claimed)} B, measured ${Math.round(measured)} B`);
  const ratio = claimed / measured;
  assert.ok(ratio > 0.85 && ratio < 1.15, `${what}: heapBytes says ${Math.round(claimed)} B, the heap holds ${Math.round(measured)} B per client (×${ratio.toFixed(2)})`);
}

test('heapBytes of a client seen once is what it holds on the heap', () => {
  within('first event', measure((i) => firstEvents(i, 1)));
});

test('heapBytes of an established keyed client is what it holds on the heap', () => {
  within('established', measure(established));
});
