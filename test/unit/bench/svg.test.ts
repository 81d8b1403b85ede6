/**
 * The plot writers produce well-formed standalone SVG (checked by a strict tag/attribute/entity
 * scanner), one `series` group per series, escaped text, and gaps for missing values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { barChart, escapeXml, formatValue, lineChart, niceTicks } from '../../../bench/report/svg.js';
import { assertWellFormed } from './wellFormed.js';

function seriesNames(svg: string): string[] {
  return [...svg.matchAll(/<g class="series" data-series="([^"]*)"/g)].map((m) => m[1]!);
}

describe('the checker itself', () => {
  it('rejects broken documents', () => {
    assert.throws(() => assertWellFormed('<svg><g></svg>'));
    assert.throws(() => assertWellFormed('<svg><text>a & b</text></svg>'));
    assert.throws(() => assertWellFormed('<svg x=1></svg>'));
    assert.throws(() => assertWellFormed('<svg/><svg/>'));
    assertWellFormed('<svg><text>a &amp; b</text><rect x="1"/></svg>');
  });
});

describe('barChart', () => {
  const svg = barChart({
    title: 'Throughput <per case> & more',
    categories: ['upstream direct', '@fastify/http-proxy + @fastify/rate-limit (Redis)', 'nginx "limit_req"'],
    series: [
      { name: 'p50 ms', values: [0.4, 1.2, null] },
      { name: 'p99 ms', values: [2.5, 9.1, null] },
    ],
    unit: 'milliseconds',
    footnote: 'machine & date',
  });

  it('is a well-formed SVG document', () => {
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assertWellFormed(svg);
  });

  it('draws one series group per series, named', () => {
    assert.deepEqual(seriesNames(svg), ['p50 ms', 'p99 ms']);
  });

  it('draws one bar per present value and "n/a" for a missing one', () => {
    assert.equal((svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="12"/g) ?? []).length, 4);
    assert.equal((svg.match(/>n\/a</g) ?? []).length, 2);
  });

  it('escapes titles and labels', () => {
    assert.match(svg, /Throughput &lt;per case&gt; &amp; more/);
    assert.match(svg, /nginx &quot;limit_req&quot;/);
  });

  it('stays well-formed with no data at all', () => {
    const empty = barChart({ title: 'empty', categories: [], series: [], unit: 'x' });
    assertWellFormed(empty);
    assert.deepEqual(seriesNames(empty), []);
  });
});

describe('lineChart', () => {
  const svg = lineChart({
    title: 'Detection timeline: scraping#1',
    xLabel: 'minutes from attack onset',
    yLabel: 'score',
    series: [
      { name: 'attacking clients', points: [[-1, null], [0, 0.2], [1, 0.95], [2, null], [3, 0.97]] },
      { name: 'normal clients', points: [[-1, 0.1], [0, 0.2], [1, 0.15], [2, 0.2], [3, 0.1]] },
      { name: 'empty', points: [] },
    ],
    bands: [{ from: 0, to: 2.5, label: 'attack' }],
    marks: [{ x: 1, label: 'reported +60 s' }, { x: 2.9, label: 'a long label near the right edge of the chart' }],
    hlines: [{ y: 0.9, label: 'block ≥ 0.9' }],
    yMin: 0,
    yMax: 1,
  });

  it('is a well-formed SVG document', () => {
    assertWellFormed(svg);
  });

  it('draws one series group per series, even an empty one', () => {
    assert.deepEqual(seriesNames(svg), ['attacking clients', 'normal clients', 'empty']);
  });

  it('breaks a line at a missing value instead of joining across it', () => {
    const d = /data-series="attacking clients"><path d="([^"]+)"/.exec(svg)![1]!;
    assert.equal((d.match(/M/g) ?? []).length, 2);
    assert.equal((d.match(/L/g) ?? []).length, 1);
  });

  it('shades each band and draws each mark and reference line', () => {
    assert.equal((svg.match(/<g class="band">/g) ?? []).length, 1);
    assert.equal((svg.match(/<g class="mark">/g) ?? []).length, 2);
    assert.equal((svg.match(/<g class="hline">/g) ?? []).length, 1);
  });

  it('writes a mark label near the right edge leftwards', () => {
    assert.match(svg, /text-anchor="end">a long label near the right edge/);
  });
});

describe('axis helpers', () => {
  it('chooses round ticks that cover the whole range, so no bar runs past the axis', () => {
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(0, 43_000, 5), [0, 10_000, 20_000, 30_000, 40_000, 50_000]);
    assert.deepEqual(niceTicks(-5, 15, 4), [-5, 0, 5, 10, 15]);
    assert.deepEqual(niceTicks(-2.7, 14.9, 8), [-5, 0, 5, 10, 15]);
  });

  it('draws the longest bar inside the plot', () => {
    const svg = barChart({ title: 't', categories: ['a', 'b'], series: [{ name: 's', values: [43_000, 10_000] }], unit: 'x', width: 900 });
    const widths = [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="12"/g)].map((m) => Number(m[1]) + Number(m[2]));
    assert.ok(Math.max(...widths) <= 900 - 70, `bar ends at ${Math.max(...widths)}`);
  });

  it('writes short value labels', () => {
    assert.equal(formatValue(1_234_567), '1.23M');
    assert.equal(formatValue(45_600), '45.6k');
    assert.equal(formatValue(250), '250');
    assert.equal(formatValue(0.0123), '0.0123');
  });

  it('escapes the five XML specials', () => {
    assert.equal(escapeXml(`<a & "b" 'c'>`), '&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;');
  });
});

describe('bar labels', () => {
  it('shortens a category label too long for the margin, keeping the full text as its tooltip', () => {
    const long = 'token bucket 20000/s, 8 engines competing, scope global-leased '.repeat(3);
    const svg = barChart({ title: 't', categories: [long, 'short'], series: [{ name: 's', values: [1, 2] }], unit: 'x', width: 600 });
    assertWellFormed(svg);
    assert.match(svg, new RegExp(`<title>${long}</title>token bucket[^<]*…</text>`));
    assert.match(svg, /<title>short<\/title>short<\/text>/);
  });
});
