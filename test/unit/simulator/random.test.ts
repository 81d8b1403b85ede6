import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, WeightedTable } from '../../../simulator/random.js';
import { ROOT } from '../../helpers/infra.js';

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.uint32());
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function variance(xs: number[]): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
}

test('the same seed gives the same sequence and different seeds different ones', () => {
  assert.deepEqual(draws(new Rng(42), 100), draws(new Rng(42), 100));
  assert.deepEqual(draws(new Rng('42'), 10), draws(new Rng(42), 10));
  assert.notDeepEqual(draws(new Rng(42), 100), draws(new Rng(43), 100));
});

test('a forked stream depends on its name, not on how much the parent has drawn', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  draws(b, 1000);
  assert.deepEqual(draws(a.fork('client/3'), 50), draws(b.fork('client/3'), 50));
  assert.notDeepEqual(draws(a.fork('client/3'), 50), draws(a.fork('client/4'), 50));
});

test('floats are uniform in [0, 1)', () => {
  const rng = new Rng(1);
  const xs = Array.from({ length: 100_000 }, () => rng.float());
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.ok(Math.abs(mean(xs) - 0.5) < 0.005);
  const deciles = new Array(10).fill(0);
  for (const x of xs) deciles[Math.floor(x * 10)]++;
  for (const d of deciles) assert.ok(Math.abs(d - 10_000) < 500, `decile count ${d}`);
});

test('exponential draws have mean 1/rate', () => {
  const rng = new Rng(2);
  const xs = Array.from({ length: 100_000 }, () => rng.exponential(4));
  assert.ok(Math.abs(mean(xs) - 0.25) < 0.005);
});

test('Poisson draws have mean and variance lambda for small and large lambda', () => {
  const rng = new Rng(3);
  for (const lambda of [0.3, 4, 29, 31, 250, 5000]) {
    const xs = Array.from({ length: 40_000 }, () => rng.poisson(lambda));
    assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0));
    assert.ok(Math.abs(mean(xs) - lambda) < 0.03 * lambda + 0.02, `mean ${mean(xs)} for ${lambda}`);
    assert.ok(Math.abs(variance(xs) / lambda - 1) < 0.06, `variance ${variance(xs)} for ${lambda}`);
  }
  assert.equal(rng.poisson(0), 0);
});

test('log-normal draws have the requested median', () => {
  const rng = new Rng(4);
  const xs = Array.from({ length: 50_001 }, () => rng.logNormal(10, 1.5)).sort((a, b) => a - b);
  assert.ok(Math.abs(xs[25_000]! / 10 - 1) < 0.05);
});

test('Pareto draws have the heavy tail P(X > x) = (xm/x)^alpha', () => {
  const rng = new Rng(5);
  const xs = Array.from({ length: 100_000 }, () => rng.pareto(1, 1.5));
  assert.ok(xs.every((x) => x >= 1));
  const beyond10 = xs.filter((x) => x > 10).length / xs.length;
  assert.ok(Math.abs(beyond10 - 10 ** -1.5) < 0.004, `P(X>10) = ${beyond10}`);
});

test('gamma draws have mean shape·scale for shapes below and above one', () => {
  const rng = new Rng(6);
  for (const [shape, scale] of [[0.5, 2], [2, 0.5], [9, 1]] as const) {
    const xs = Array.from({ length: 50_000 }, () => rng.gamma(shape, scale));
    assert.ok(Math.abs(mean(xs) / (shape * scale) - 1) < 0.03, `mean ${mean(xs)} for Gamma(${shape}, ${scale})`);
  }
});

test('a weighted table draws items in proportion to their weights and skips zero weights', () => {
  const rng = new Rng(8);
  const table = new WeightedTable([['a', 1], ['b', 3], ['never', 0], ['c', 6]] as const);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 100_000; i++) {
    const x = table.sample(rng);
    counts[x] = (counts[x] ?? 0) + 1;
  }
  assert.equal(counts.never, undefined);
  assert.ok(Math.abs(counts.a! / 100_000 - 0.1) < 0.01);
  assert.ok(Math.abs(counts.b! / 100_000 - 0.3) < 0.01);
  assert.ok(Math.abs(counts.c! / 100_000 - 0.6) < 0.01);
  assert.deepEqual(table.probabilities(), [0.1, 0.3, 0.6]);
});

test('nothing in simulator/ uses Math.random', () => {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.ts')) files.push(join(dir, entry.name));
    }
  };
  walk(join(ROOT, 'simulator'));
  assert.ok(files.length > 5);
  for (const file of files) assert.ok(!/Math\.random\s*\(/.test(readFileSync(file, 'utf8')), `${file} uses Math.random`);
});
