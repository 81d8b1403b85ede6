import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitGate } from '../../../analyzer/ingest/commitGate.js';

const T = 1_700_000_000_000; // a multiple of 10 s
const NONE = Number.NEGATIVE_INFINITY;

test('the commit is held at the first offset of the oldest window not scored yet', () => {
  const g = new CommitGate(10_000);
  g.observe(0, T + 1_000, 100, NONE);
  g.observe(0, T + 9_000, 101, NONE);
  g.observe(0, T + 11_000, 102, NONE);
  g.handled(0, 103);
  assert.equal(g.committable(0, NONE), 100);
  assert.equal(g.committable(0, T + 10_000), 102, 'the first window was scored');
  assert.equal(g.committable(0, T + 20_000), 103, 'everything scored: the next offset');
  assert.equal(g.held(0), 0);
});

test('partitions are independent, and a partition with nothing handled has nothing to commit', () => {
  const g = new CommitGate(10_000);
  g.observe(1, T + 1_000, 7, NONE);
  g.handled(1, 8);
  assert.equal(g.committable(2, NONE), null);
  assert.equal(g.committable(1, NONE), 7);
  g.forget(1);
  assert.equal(g.committable(1, NONE), null);
});

test('a late event (its window already scored) is held with the oldest open window', () => {
  const g = new CommitGate(10_000);
  g.handled(0, 50);
  g.observe(0, T + 3_000, 50, T + 10_000);
  g.handled(0, 51);
  assert.equal(g.committable(0, T + 10_000), 50, 'held: the analyzer folded it into an open window');
  assert.equal(g.committable(0, T + 20_000), 51);
});

test('out-of-order events keep the first offset of their window', () => {
  const g = new CommitGate(10_000);
  g.observe(0, T + 12_000, 10, NONE);
  g.observe(0, T + 5_000, 11, NONE);
  g.observe(0, T + 13_000, 12, NONE);
  g.handled(0, 13);
  assert.equal(g.committable(0, NONE), 10);
  assert.equal(g.committable(0, T + 10_000), 10, 'the window of T+12 s starts at offset 10');
});

test('the windows held per partition are bounded; the oldest is forgotten and counted', () => {
  const g = new CommitGate(10_000, 3);
  for (let i = 0; i < 5; i++) g.observe(0, T + i * 10_000, i, NONE);
  g.handled(0, 5);
  assert.equal(g.held(0), 3);
  assert.equal(g.forgotten, 2);
  assert.equal(g.committable(0, NONE), 2);
});

test('a scored-until mark of +∞ (every window scored) holds nothing back', () => {
  const g = new CommitGate(10_000);
  g.observe(0, T + 1_000, 5, Number.POSITIVE_INFINITY);
  g.handled(0, 6);
  assert.equal(g.held(0), 0);
  assert.equal(g.committable(0, Number.POSITIVE_INFINITY), 6, 'not held at a NaN window for good');
});
