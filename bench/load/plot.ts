/**
 * The load experiment as one SVG (hand-written, no dependency): a panel per case, time on x, the
 * offered-load steps shaded, offered and goodput (req/s, left axis, with capacity dashed) and p99
 * latency of successful requests (ms, log scale, right axis, with the 2× unloaded target dotted).
 */
import { BIN_MS, quantile, type Bin, type Step } from './figures.js';

export interface PlotCase {
  readonly name: string;
  readonly bins: readonly Bin[];
  readonly unloadedP99: number | null;
}

const W = 960;
const TIER_COLORS: ReadonlyArray<[string, string]> = [
  ['free', '#9ecae1'],
  ['pro', '#3182bd'],
  ['enterprise', '#08306b'],
];
const PANEL_H = 230;
const M = { left: 64, right: 70, top: 34, bottom: 34 };

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function path(points: Array<[number, number]>): string {
  return points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
}

export function renderLoadSvg(cases: readonly PlotCase[], steps: readonly Step[], capacity: number, title: string): string {
  const totalMs = steps.reduce((s, st) => Math.max(s, st.startMs + st.durationMs), 0);
  const maxRate = Math.max(...steps.map((s) => s.ratePerSec)) * 1.1;
  const innerW = W - M.left - M.right;
  const innerH = PANEL_H - M.top - M.bottom;
  const H = cases.length * PANEL_H + 60;
  const x = (ms: number): number => M.left + (ms / totalMs) * innerW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  const logMin = Math.log10(5);
  const logMax = Math.log10(5_000);
  cases.forEach((c, ci) => {
    const top = 40 + ci * PANEL_H;
    const yRate = (r: number): number => top + M.top + innerH - (Math.min(r, maxRate) / maxRate) * innerH;
    const yMs = (ms: number): number => {
      const l = Math.log10(Math.max(5, Math.min(5_000, ms)));
      return top + M.top + innerH - ((l - logMin) / (logMax - logMin)) * innerH;
    };
    out.push(`<text x="${M.left}" y="${top + 20}" font-size="13" font-weight="bold">${esc(c.name)}</text>`);
    // load steps, shaded by offered load
    for (const s of steps) {
      const opacity = Math.min(0.35, 0.07 * s.factor);
      out.push(`<rect x="${x(s.startMs).toFixed(1)}" y="${top + M.top}" width="${(x(s.startMs + s.durationMs) - x(s.startMs)).toFixed(1)}" height="${innerH}" fill="#f4a300" fill-opacity="${opacity.toFixed(2)}"/>`);
      out.push(`<text x="${((x(s.startMs) + x(s.startMs + s.durationMs)) / 2).toFixed(1)}" y="${top + M.top - 4}" text-anchor="middle" fill="#a06a00">${s.factor}×</text>`);
    }
    out.push(`<rect x="${M.left}" y="${top + M.top}" width="${innerW}" height="${innerH}" fill="none" stroke="#888"/>`);
    // axes
    for (let i = 0; i <= 4; i++) {
      const r = (maxRate / 4) * i;
      out.push(`<text x="${M.left - 6}" y="${(yRate(r) + 4).toFixed(1)}" text-anchor="end" fill="#555">${Math.round(r)}</text>`);
    }
    for (const ms of [10, 100, 1_000]) {
      out.push(`<line x1="${M.left}" x2="${M.left + innerW}" y1="${yMs(ms).toFixed(1)}" y2="${yMs(ms).toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${M.left + innerW + 6}" y="${(yMs(ms) + 4).toFixed(1)}" fill="#c0392b">${ms} ms</text>`);
    }
    const tick = totalMs > 30_000 ? 10 : 5;
    for (let s = 0; s <= totalMs / 1000; s += tick) out.push(`<text x="${x(s * 1000).toFixed(1)}" y="${top + M.top + innerH + 14}" text-anchor="middle" fill="#555">${s}s</text>`);
    out.push(`<text transform="translate(${14},${top + M.top + innerH / 2}) rotate(-90)" text-anchor="middle" fill="#555">req/s</text>`);
    // capacity and latency target
    out.push(`<line x1="${M.left}" x2="${M.left + innerW}" y1="${yRate(capacity).toFixed(1)}" y2="${yRate(capacity).toFixed(1)}" stroke="#2a9d3a" stroke-dasharray="6 4"/>`);
    if (c.unloadedP99 !== null) {
      const yt = yMs(2 * c.unloadedP99).toFixed(1);
      out.push(`<line x1="${M.left}" x2="${M.left + innerW}" y1="${yt}" y2="${yt}" stroke="#c0392b" stroke-dasharray="2 3"/>`);
    }
    // series
    const offered: Array<[number, number]> = [];
    const goodput: Array<[number, number]> = [];
    const p99: Array<[number, number]> = [];
    c.bins.forEach((b, i) => {
      const mid = x(b.t + BIN_MS / 2);
      offered.push([mid, yRate(b.sent / (BIN_MS / 1000))]);
      goodput.push([mid, yRate(b.ok / (BIN_MS / 1000))]);
      const window = c.bins.slice(Math.max(0, i - 3), i + 1).flatMap((w) => w.latencies);
      const q = quantile(window, 0.99);
      if (q !== null) p99.push([mid, yMs(q)]);
    });
    for (const [tier, color] of TIER_COLORS) {
      const line: Array<[number, number]> = c.bins.map((b) => [x(b.t + BIN_MS / 2), yRate((b.byTier[tier]?.ok ?? 0) / (BIN_MS / 1000))]);
      out.push(`<path d="${path(line)}" fill="none" stroke="${color}" stroke-width="1" stroke-dasharray="4 2"/>`);
    }
    out.push(`<path d="${path(offered)}" fill="none" stroke="#999" stroke-width="1.2"/>`);
    out.push(`<path d="${path(goodput)}" fill="none" stroke="#2a9d3a" stroke-width="1.8"/>`);
    out.push(`<path d="${path(p99)}" fill="none" stroke="#c0392b" stroke-width="1.5"/>`);
  });
  // legend, two rows
  const items: Array<[string, string, string]> = [
    ['#999', '', 'offered req/s'],
    ['#2a9d3a', '', 'goodput (2xx/s)'],
    ['#2a9d3a', '6 4', `capacity ${Math.round(capacity)}/s`],
    ['#c0392b', '', 'p99 of 2xx (1 s window, log)'],
    ['#c0392b', '2 3', '2 × unloaded p99'],
    ...TIER_COLORS.map(([tier, color]): [string, string, string] => [color, '4 2', `${tier} 2xx/s`]),
  ];
  items.forEach(([color, dash, label], i) => {
    const lx = M.left + (i % 5) * 175;
    const ly = H - 30 + Math.floor(i / 5) * 18;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}">${esc(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
