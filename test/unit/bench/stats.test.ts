/**
 * The arithmetic behind reported figures: medians over repetitions, percentiles, ratios against
 * peers, and merging repeated part rows by name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { median, medianRows, percentile, ratio, round } from '../../../bench/report/stats.js';

describe('median', () => {
  it('takes the middle value of an odd count, whatever the order', () => {
    assert.equal(median([9, 1, 5]), 5);
  });

  it('averages the two middle values of an even count', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('ignores missing and non-finite values, and is null when none are left', () => {
    assert.equal(median([null, 3, undefined, Number.NaN, 7]), 5);
    assert.equal(median([null, undefined]), null);
    assert.equal(median([]), null);
  });

  it('is not moved by one outlying repetition', () => {
    assert.equal(median([10_000, 10_200, 2_000]), 10_000);
  });
});

describe('percentile', () => {
  it('uses the nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile(xs, 100), 100);
    assert.equal(percentile([7], 99), 7);
  });

  it('is null without samples', () => {
    assert.equal(percentile([], 50), null);
  });
});

describe('ratio', () => {
  it('divides and rounds to two decimals', () => {
    assert.equal(ratio(15_000, 9_000), 1.67);
  });

  it('is null when either side is missing or the peer measured nothing', () => {
    assert.equal(ratio(null, 10), null);
    assert.equal(ratio(10, null), null);
    assert.equal(ratio(10, 0), null);
    assert.equal(ratio(Number.NaN, 10), null);
  });

  it('rounds half away from zero at the requested precision', () => {
    assert.equal(round(1.23456, 3), 1.235);
    assert.equal(round(null), null);
  });
});

describe('medianRows', () => {
  const reps = [
    [
      { name: 'a', rps: 100, p99_ms: 5, note: 'first' },
      { name: 'b', rps: 50, p99_ms: 9 },
    ],
    [
      { name: 'a', rps: 300, p99_ms: 1, note: 'second' },
      { name: 'b', rps: 70, p99_ms: 3 },
    ],
    [{ name: 'a', rps: 200, p99_ms: 2, note: 'third' }],
  ];

  it('merges rows by name in first-seen order', () => {
    assert.deepEqual(
      medianRows(reps, 'rps').map((r) => r.name),
      ['a', 'b'],
    );
  });

  it('takes each numeric field as its own median over the repetitions that produced the row', () => {
    const [a, b] = medianRows(reps, 'rps');
    assert.equal(a!.rps, 200);
    assert.equal(a!.p99_ms, 2);
    assert.equal(b!.rps, 60);
    assert.equal(b!.p99_ms, 6);
  });

  it('keeps every repetition of the main figure, so the spread stays visible', () => {
    const [a, b] = medianRows(reps, 'rps');
    assert.deepEqual(a!.reps, [100, 300, 200]);
    assert.deepEqual(b!.reps, [50, 70]);
  });

  it('keeps non-numeric fields from the first repetition', () => {
    assert.equal(medianRows(reps, 'rps')[0]!.note, 'first');
  });

  it('gives nothing for no repetitions', () => {
    assert.deepEqual(medianRows<{ name: string; rps: number }>([], 'rps'), []);
  });
});
