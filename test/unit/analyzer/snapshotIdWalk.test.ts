/**
 * The id walk (sequential_id_share) survives a state snapshot: the hash of the path before the
 * last numeric id is restored as the same unsigned number the ingest path compares with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientState } from '../../../analyzer/clientState.js';
import { detectionOptions } from '../../../analyzer/options.js';
import { decodeClientState, encodeClientState } from '../../../analyzer/state/snapshotCodec.js';
import { hashString } from '../../../models/featureSketches.js';
import { WindowAccumulator } from '../../../models/features.js';
import { T0, ev } from './helpers.js';

test('an id walk that straddles a snapshot is still counted after the restore (path hashes with the top bit set)', () => {
  // a path prefix whose hash has its top bit set (a negative int32)
  let prefix = '';
  for (let i = 0; ; i++) {
    prefix = `/api/items${i}`;
    if (hashString(prefix) >= 0x80000000) break;
  }
  const opts = detectionOptions({});
  const key = 'apiKey:00000000000000aa';
  const st = new ClientState(key, 'free', 0, opts);
  const w1 = new WindowAccumulator(T0, 10_000, false);
  w1.add(ev({ ts: T0 + 1, route: `${prefix}/40` }), st.ctx);
  w1.add(ev({ ts: T0 + 2, route: `${prefix}/41` }), st.ctx);
  assert.equal(w1.sequentialIds, 1);
  assert.equal(st.ctx.lastIdPrefix, hashString(prefix));

  const series = { name: 'none', create: () => { throw new Error('no series'); } };
  const decoded = decodeClientState(encodeClientState(st, 'none', T0 + 5_000), key, 0, opts, series as never, 'free');
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
  const back = decoded.value.state;
  assert.equal(back.ctx.lastIdPrefix, st.ctx.lastIdPrefix, 'the id walk prefix comes back as it was');

  // the next id on the same path, in the next window, after the restore
  const w2 = new WindowAccumulator(T0 + 10_000, 10_000, true);
  w2.add(ev({ ts: T0 + 10_001, route: `${prefix}/42` }), back.ctx);
  assert.equal(w2.sequentialIds, 1, 'the walk continues across the restore');
});
