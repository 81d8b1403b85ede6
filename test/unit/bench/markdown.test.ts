/**
 * The printed report's tables: GitHub markdown with escaped cells, padded columns and
 * right-aligned figure columns.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { escapeCell, fmt, markdownTable, times } from '../../../bench/report/markdown.js';

describe('markdownTable', () => {
  it('writes a header, a rule and one line per row, padded to the widest cell', () => {
    const t = markdownTable(['case', 'rps'], [['upstream', '1,000'], ['ratewarden', '900']], ['left', 'right']);
    assert.equal(t, ['| case       |   rps |', '| ---------- | ----: |', '| upstream   | 1,000 |', '| ratewarden |   900 |'].join('\n'));
  });

  it('escapes pipes and line breaks so a cell cannot split the row', () => {
    const t = markdownTable(['a'], [['x | y\nz']]);
    assert.equal(t.split('\n').length, 3);
    assert.match(t, /x \\\| y z/);
    assert.equal(escapeCell('a|b'), 'a\\|b');
  });

  it('fills missing cells with blanks, keeping every line the same number of columns', () => {
    const lines = markdownTable(['a', 'b', 'c'], [['1']]).split('\n');
    for (const line of lines) assert.equal(line.split(' | ').length, 3);
  });
});

describe('figure formatting', () => {
  it('writes large figures whole with thousands separators', () => {
    assert.equal(fmt(1234567.8), '1,234,568');
  });

  it('writes small figures with the requested decimals', () => {
    assert.equal(fmt(0.5), '0.50');
    assert.equal(fmt(12.345, 1), '12.3');
    assert.equal(fmt(7, 0), '7');
  });

  it('writes a dash for a missing figure', () => {
    assert.equal(fmt(null), '–');
    assert.equal(fmt(Number.NaN), '–');
    assert.equal(times(null), '–');
  });

  it('writes ratios as multiples', () => {
    assert.equal(times(1.625), '1.63×');
  });
});
