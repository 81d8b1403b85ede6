/** Priority shedding: one service multiplier into per-tier multipliers, free first, enterprise last. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admittedShare, shedByPriority } from '../../../analyzer/load/priorityShedding.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { loadPolicy } from './fixtures.js';

const tiers = loadPolicy().tiers; // free 2, pro 1, enterprise 0
const demand = { free: 60, pro: 30, enterprise: 10 };

test('a small cut is taken from the free tier alone', () => {
  assert.deepEqual(shedByPriority(0.7, tiers, demand, 0.2), { free: 0.5, pro: 1, enterprise: 1 });
});

test('once free is at the floor, pro is cut next, and enterprise only after both', () => {
  const mid = shedByPriority(0.4, tiers, demand, 0.2);
  assert.equal(mid.free, 0.2);
  assert.ok(mid.pro! < 1 && mid.pro! > 0.2, `pro ${mid.pro}`);
  assert.equal(mid.enterprise, 1);
  const low = shedByPriority(0.25, tiers, demand, 0.2);
  assert.equal(low.free, 0.2);
  assert.equal(low.pro, 0.2);
  assert.ok(low.enterprise! < 1, `enterprise ${low.enterprise}`);
});

test('the tiers together admit the service multiplier of the demand', () => {
  for (const m of [1, 0.9, 0.7, 0.5, 0.35, 0.25, 0.2]) {
    const t = shedByPriority(m, tiers, demand, 0.2);
    assert.ok(Math.abs(admittedShare(t, demand) - m) < 0.002, `m ${m}: ${admittedShare(t, demand)}`);
  }
});

test('no tier goes below the floor, and at the minimum multiplier every tier is at it', () => {
  assert.deepEqual(shedByPriority(0.2, tiers, demand, 0.2), { free: 0.2, pro: 0.2, enterprise: 0.2 });
  assert.deepEqual(shedByPriority(0.05, tiers, demand, 0.2), { free: 0.2, pro: 0.2, enterprise: 0.2 });
});

test('without demand figures the tiers share equally', () => {
  const t = shedByPriority(0.6, tiers, {}, 0.2);
  assert.ok(t.free! < 1);
  assert.ok(Math.abs((t.free! + t.pro! + t.enterprise!) / 3 - 0.6) < 0.002);
});

test('a tier without traffic is floored once the cut reaches its priority, and untouched before', () => {
  assert.deepEqual(shedByPriority(0.8, tiers, { pro: 80, enterprise: 20 }, 0.2), { free: 0.2, pro: 0.75, enterprise: 1 });
  assert.deepEqual(shedByPriority(1, tiers, { pro: 80 }, 0.2), { free: 1, pro: 1, enterprise: 1 });
});

test('tier names like Object.prototype members (valid in a policy) are shed like any other', () => {
  for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf']) {
    const r = parsePolicy(`version: 1\ntiers: { free: {}, ${name}: { shedPriority: 0 } }\nrules:\n  - { id: g, key: [global], algorithm: token-bucket, rate: 1/s, burst: 1 }\n`);
    assert.ok(r.ok, name);
    // demand as the watcher reads it: no own entry for the quiet tier
    assert.deepEqual(shedByPriority(0.5, r.policy.tiers, { free: 90 }, 0.2), { free: 0.5, [name]: 1 }, name);
    assert.deepEqual(shedByPriority(0.5, r.policy.tiers, { free: 45, [name]: 45 }, 0.2), { free: 0.2, [name]: 0.8 }, name);
    assert.equal(admittedShare({ free: 0.5 }, { free: 50, [name]: 50 }), 0.75, name);
  }
});

test('a tier multiplier is never rounded below the floor, nor to 0', () => {
  for (const floor of [0.0014, 0.001, 0.0004, 0.00001]) {
    for (const m of [0.5, 0.01, 0.002, floor]) {
      for (const d of [demand, { free: 99, pro: 1 }, {}] as Array<Record<string, number>>) {
        const t = shedByPriority(m, tiers, d, floor);
        for (const [tier, v] of Object.entries(t)) {
          assert.ok(v >= floor && v > 0 && v <= 1, `floor ${floor}, m ${m}: ${tier} ×${v}`);
        }
      }
    }
  }
});
