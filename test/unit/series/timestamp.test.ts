import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUtcTimestamp } from '../../../analyzer/detectors/series/timestamp.js';

test('a NAB timestamp is read as UTC', () => {
  assert.equal(parseUtcTimestamp('2014-04-01 00:05:00'), Date.UTC(2014, 3, 1, 0, 5, 0));
  assert.equal(parseUtcTimestamp('2011-07-11 04:00:01.000000'), Date.UTC(2011, 6, 11, 4, 0, 1));
});

test('ISO 8601 with a zone and epoch milliseconds are accepted', () => {
  assert.equal(parseUtcTimestamp('2014-04-01T02:05:00+02:00'), Date.UTC(2014, 3, 1, 0, 5, 0));
  assert.equal(parseUtcTimestamp('1396310700000'), 1396310700000);
});

test('an unreadable timestamp is NaN', () => {
  assert.ok(Number.isNaN(parseUtcTimestamp('yesterday-ish')));
  assert.ok(Number.isNaN(parseUtcTimestamp('')));
});

test('nothing is guessed: free text, local-time forms and dates that do not exist are NaN', () => {
  for (const t of ['hello 2014', 'foo 1', 'Apr 1 2014', '04/01/2014 00:00', '2014-02-30', '2014-02-30 00:00:00', '2014-13-01 00:00:00', '2014-04-01 24:00:00', '2014-04-01T00:05:60Z']) {
    assert.ok(Number.isNaN(parseUtcTimestamp(t)), t);
  }
  assert.equal(parseUtcTimestamp('2014-04-01'), Date.UTC(2014, 3, 1));
  assert.equal(parseUtcTimestamp('2014-04-01 00:05:00Z'), Date.UTC(2014, 3, 1, 0, 5, 0));
  assert.equal(parseUtcTimestamp('2014-04-01T02:05:00.250+0200'), Date.UTC(2014, 3, 1, 0, 5, 0, 250));
});
