/**
 * The memory store is bounded: clients creating keys evict the least recently used ones, and every
 * eviction is counted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../../sidecar/engine/index.js';
import { ManualClock, facts, oneRule } from './helpers.js';

describe('memory store', () => {
  it('holds at most maxKeys keys and counts each eviction', async () => {
    let hooked = 0;
    const e = createEngine({
      policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 5, window: 60s }', 'store: { kind: memory, maxKeys: 100 }'),
      service: 's',
      clock: new ManualClock(),
      hooks: { keysEvicted: (n) => (hooked += n) },
    });
    for (let i = 0; i < 150; i++) await e.decide(facts({ ip: `10.0.${i >> 8}.${i & 255}` }));
    const stats = e.stats!();
    assert.equal(stats.keys, 100);
    assert.equal(stats.evictions, 50);
    assert.equal(hooked, 50);
  });

  it('keeps the most recently used keys when it evicts', async () => {
    const e = createEngine({
      policy: oneRule('{ id: r, key: [ip], algorithm: fixed-window, limit: 1, window: 60s }', 'store: { kind: memory, maxKeys: 2 }'),
      service: 's',
      clock: new ManualClock(),
    });
    await e.decide(facts({ ip: '1.1.1.1' }));
    await e.decide(facts({ ip: '2.2.2.2' }));
    await e.decide(facts({ ip: '1.1.1.1' })); // touches 1.1.1.1 (rejected)
    await e.decide(facts({ ip: '3.3.3.3' })); // evicts 2.2.2.2
    assert.equal((await e.decide(facts({ ip: '1.1.1.1' }))).kind, 'limit');
  });
});
