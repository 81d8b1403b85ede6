/**
 * A snapshot whose checksum is right but whose learned numbers are not what the baselines can
 * hold (NaN or ±Infinity in an EWMA, a ring, the hour-of-week profile; a negative spread) — written
 * by a hostile or broken writer — is refused like a corrupted one, not restored: a non-finite EWMA
 * mean would poison that feature for good (every later step's result is non-finite and skipped).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientState } from '../../../analyzer/clientState.js';
import { HourOfWeekProfile, hourOfWeek } from '../../../analyzer/baselines/seasonal.js';
import { detectionOptions } from '../../../analyzer/options.js';
import { decodeClientState, encodeClientState } from '../../../analyzer/state/snapshotCodec.js';
import { FEATURE_COUNT } from '../../../models/features.js';
import { T0 } from './helpers.js';

const opts = detectionOptions({});
const KEY = 'ip:10.0.0.1';
const noSeries = { name: 'none', create: () => { throw new Error('no series'); } } as never;

function learned(): ClientState {
  const st = new ClientState(KEY, 'free', 0, opts);
  const x = new Float64Array(FEATURE_COUNT);
  for (let k = 0; k < 40; k++) {
    x.fill(1 + (k % 5));
    st.b10.learn(x);
    st.b60.learn(x);
  }
  st.seasonal = new HourOfWeekProfile();
  for (let k = 0; k < 30; k++) st.seasonal.update(T0 + k * 60_000, 2 + (k % 3));
  st.usualIps = 2;
  st.ctx.lastTs = T0;
  return st;
}

test('a healthy learned client round-trips', () => {
  const r = decodeClientState(encodeClientState(learned(), 'none', T0), KEY, 0, opts, noSeries, 'free');
  assert.ok(r.ok, r.ok ? '' : r.error);
});

const poisons: Array<[string, (st: ClientState) => void]> = [
  ['EWMA mean Infinity', (st) => (st.b10.ewma.mean[0] = Infinity)],
  ['EWMA mean NaN', (st) => (st.b60.ewma.mean[3] = NaN)],
  ['EWMA variance negative', (st) => (st.b10.ewma.variance[1] = -4)],
  ['ring value Infinity', (st) => (st.b10.ring as unknown as { values: Float32Array }).values.fill(Infinity, 0, 1)],
  ['ring centre Infinity', (st) => (st.b10.ring.centre[0] = Infinity)],
  ['ring sigma negative', (st) => (st.b60.ring.sigma[2] = -1)],
  ['hour-of-week mean NaN', (st) => (st.seasonal as unknown as { mean: Float32Array }).mean.fill(NaN, hourOfWeek(T0), hourOfWeek(T0) + 1)],
  ['usual IP count NaN', (st) => (st.usualIps = NaN)],
  ['last event time NaN', (st) => (st.ctx.lastTs = NaN)],
];

for (const [what, poison] of poisons) {
  test(`a checksummed snapshot with ${what} is refused`, () => {
    const st = learned();
    poison(st);
    const r = decodeClientState(encodeClientState(st, 'none', T0), KEY, 0, opts, noSeries, 'free');
    assert.equal(r.ok, false, `${what}: restored instead of refused`);
  });
}
