/** Priority shedding: one service multiplier into per-tier multipliers, free first, enterprise last. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admittedShare, shedByPriority } from '../../../analyzer/load/priorityShedding.js';
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
