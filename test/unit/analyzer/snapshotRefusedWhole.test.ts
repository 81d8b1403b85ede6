/**
 * A snapshot that does not decode changes nothing: a population ring that is refused leaves the
 * analyzer's ring as it was (empty: the tier relearns), it is not half-restored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { FEATURE_COUNT } from '../../../models/features.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { RobustRing } from '../../../analyzer/baselines/robustRing.js';
import { POPULATION_RING } from '../../../analyzer/baselines/population.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { decodePopulationRing, encodePopulationRing } from '../../../analyzer/state/snapshotCodec.js';
import { MemoryStateStore } from '../../../analyzer/state/stateStore.js';
import { T0, policy } from './helpers.js';

/** A well-formed, checksummed population ring with `extra` unexpected bytes before its CRC. */
function ringWithTrailingBytes(extra: number): Uint8Array {
  const ring = new RobustRing(FEATURE_COUNT, POPULATION_RING, 512);
  for (let i = 0; i < 64; i++) ring.push(Array.from({ length: FEATURE_COUNT }, (_, f) => 1 + ((i * (f + 1)) % 7)));
  const good = encodePopulationRing(ring, T0);
  const out = new Uint8Array(good.length + extra);
  out.set(good.subarray(0, good.length - 4));
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

test('a population ring that does not decode leaves the ring it was decoded into untouched', () => {
  const into = new RobustRing(FEATURE_COUNT, POPULATION_RING, 512);
  const before = into.exportState();
  const r = decodePopulationRing(ringWithTrailingBytes(6), into);
  assert.equal(r.ok, false);
  assert.equal(into.size, 0, 'no rows were restored');
  assert.deepEqual(into.exportState(), before);
});

test('restoring the group state: a bad population ring is counted and the tier relearns from nothing', () => {
  const analyzer = new Analyzer({ policy: policy(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => T0, state: new MemoryStateStore() });
  const out = analyzer.restoreGroup({ warmSince: null, populations: new Map([['free/10000', ringWithTrailingBytes(6)]]) });
  assert.deepEqual(out, { populations: 0, bad: 1 });
  const ring = analyzer.population.ring('free', 10_000);
  assert.ok(ring === null || ring.size === 0, `the refused ring was not half-applied (size ${ring?.size})`);
});
