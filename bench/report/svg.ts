/**
 * Two small chart writers for the benchmark plots, producing standalone SVG text (no dependency, no
 * browser): horizontal grouped bars (figures per case) and lines over time with shaded spans and
 * vertical marks (detection timelines). Every series is one `<g class="series" data-series="…">`, so
 * a reader (or a test) can find them; all text is XML-escaped.
 */

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];
const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** About `count` round tick values (1, 2 or 5 × 10^k apart), the first ≤ min and the last ≥ max. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max <= min) max = min + 1;
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * mag;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(i === 0 ? 0 : Number((i * step).toPrecision(12)));
  return ticks;
}

/** 1234567 → "1.23M", 0.0123 → "0.0123": short labels for axes and bar ends. */
export function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a >= 100) return String(Math.round(v));
  if (a >= 1) return trim(v);
  if (a === 0) return '0';
  return String(Number(v.toPrecision(3)));
}

function trim(v: number): string {
  return String(Number(v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2)));
}

function f(x: number): string {
  return String(Math.round(x * 10) / 10);
}

function svgOpen(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(title)}</text>`,
  ];
}

function legend(series: ReadonlyArray<{ name: string; color: string }>, x: number, y: number, kind: 'rect' | 'line'): string[] {
  const out: string[] = [];
  let cx = x;
  for (const s of series) {
    out.push(kind === 'rect' ? `<rect x="${f(cx)}" y="${f(y - 9)}" width="10" height="10" fill="${s.color}"/>` : `<line x1="${f(cx)}" y1="${f(y - 4)}" x2="${f(cx + 14)}" y2="${f(y - 4)}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${f(cx + (kind === 'rect' ? 14 : 18))}" y="${f(y)}">${escapeXml(s.name)}</text>`);
    cx += (kind === 'rect' ? 14 : 18) + s.name.length * 6.6 + 16;
  }
  return out;
}

export interface BarSeries {
  readonly name: string;
  /** One value per category; null draws "n/a". */
  readonly values: ReadonlyArray<number | null>;
  readonly color?: string;
}

export interface BarChartOptions {
  readonly title: string;
  readonly categories: readonly string[];
  readonly series: readonly BarSeries[];
  /** Axis caption, e.g. "requests/s". */
  readonly unit: string;
  readonly width?: number;
  /** A line under the chart (machine, date). */
  readonly footnote?: string;
}

/** Horizontal grouped bars: one group per category, one bar per series. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 900;
  const n = Math.max(1, o.series.length);
  const barH = 14;
  const groupH = n * barH + 10;
  const CHAR = 6.4;
  const labelW = Math.min(width * 0.55, Math.max(80, ...o.categories.map((c) => c.length * CHAR + 12)));
  const maxChars = Math.floor((labelW - 12) / CHAR);
  const left = labelW + 10;
  const right = width - 70;
  const top = 56;
  const plotH = Math.max(1, o.categories.length) * groupH;
  const height = top + plotH + 44 + (o.footnote ? 16 : 0);
  const all = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const max = Math.max(0, ...all);
  const ticks = niceTicks(0, max > 0 ? max : 1, 5);
  const top_ = ticks[ticks.length - 1]!;
  const x = (v: number): number => left + (Math.max(0, v) / top_) * (right - left);
  const colored = o.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const out = svgOpen(width, height, o.title);
  out.push(...legend(colored, left, 42, 'rect'));
  out.push('<g class="axis">');
  for (const t of ticks) {
    out.push(`<line x1="${f(x(t))}" y1="${top}" x2="${f(x(t))}" y2="${top + plotH}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${f(x(t))}" y="${top + plotH + 16}" text-anchor="middle" fill="#374151">${escapeXml(formatValue(t))}</text>`);
  }
  out.push(`<text x="${f((left + right) / 2)}" y="${top + plotH + 34}" text-anchor="middle" fill="#374151">${escapeXml(o.unit)}</text>`);
  o.categories.forEach((c, i) => {
    // a label too long for the margin is shortened; the full text stays in its tooltip
    const shown = c.length > maxChars ? `${c.slice(0, maxChars - 1)}…` : c;
    out.push(`<text x="${labelW}" y="${f(top + i * groupH + groupH / 2 + 4)}" text-anchor="end"><title>${escapeXml(c)}</title>${escapeXml(shown)}</text>`);
  });
  out.push('</g>');
  colored.forEach((s, si) => {
    out.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    o.categories.forEach((_, ci) => {
      const y = top + ci * groupH + 5 + si * barH;
      const v = s.values[ci] ?? null;
      if (v === null || !Number.isFinite(v)) {
        out.push(`<text x="${left + 4}" y="${f(y + barH - 3)}" fill="#9ca3af">n/a</text>`);
        return;
      }
      out.push(`<rect x="${left}" y="${f(y)}" width="${f(Math.max(1, x(v) - left))}" height="${barH - 2}" fill="${s.color}"><title>${escapeXml(`${s.name}: ${v}`)}</title></rect>`);
      out.push(`<text x="${f(x(v) + 4)}" y="${f(y + barH - 3)}" font-size="11">${escapeXml(formatValue(v))}</text>`);
    });
    out.push('</g>');
  });
  if (o.footnote) out.push(`<text x="8" y="${height - 6}" font-size="10" fill="#6b7280">${escapeXml(o.footnote)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface LineSeries {
  readonly name: string;
  /** [x, y] in x order; a null y breaks the line. */
  readonly points: ReadonlyArray<readonly [number, number | null]>;
  readonly color?: string;
}

export interface Band {
  readonly from: number;
  readonly to: number;
  readonly label: string;
}

export interface Mark {
  readonly x: number;
  readonly label: string;
  readonly color?: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** Shaded spans (attacks), drawn under the lines. */
  readonly bands?: readonly Band[];
  /** Vertical lines (detections, blocks). */
  readonly marks?: readonly Mark[];
  /** Horizontal reference lines (thresholds). */
  readonly hlines?: ReadonlyArray<{ readonly y: number; readonly label: string }>;
  readonly yMin?: number;
  readonly yMax?: number;
  readonly xFormat?: (x: number) => string;
  readonly width?: number;
  readonly height?: number;
  readonly footnote?: string;
}

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 900;
  const height = o.height ?? 360;
  const left = 64;
  const right = width - 20;
  const top = 56;
  const bottom = height - 44 - (o.footnote ? 14 : 0);
  const xs = [...o.series.flatMap((s) => s.points.map((p) => p[0])), ...(o.bands ?? []).flatMap((b) => [b.from, b.to]), ...(o.marks ?? []).map((m) => m.x)].filter(Number.isFinite);
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]).filter((v): v is number => v !== null && Number.isFinite(v)));
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const yTicks = niceTicks(o.yMin ?? Math.min(0, ...ys), o.yMax ?? Math.max(1e-9, ...ys, ...(o.hlines ?? []).map((h) => h.y)), 5);
  const y0 = o.yMin ?? yTicks[0]!;
  const y1 = o.yMax ?? yTicks[yTicks.length - 1]!;
  const sx = (x: number): number => left + ((x - x0) / (x1 - x0 || 1)) * (right - left);
  const sy = (y: number): number => bottom - ((Math.min(y1, Math.max(y0, y)) - y0) / (y1 - y0 || 1)) * (bottom - top);
  const fmt = o.xFormat ?? formatValue;
  const colored = o.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const out = svgOpen(width, height, o.title);
  out.push(...legend(colored, left, 42, 'line'));
  for (const b of o.bands ?? []) {
    const bx = sx(Math.max(x0, b.from));
    const bw = Math.max(1, sx(Math.min(x1, b.to)) - bx);
    out.push(`<g class="band"><rect x="${f(bx)}" y="${top}" width="${f(bw)}" height="${f(bottom - top)}" fill="#fde68a" fill-opacity="0.45"/><text x="${f(bx + 3)}" y="${top + 12}" font-size="11" fill="#92400e">${escapeXml(b.label)}</text></g>`);
  }
  out.push('<g class="axis">');
  for (const t of yTicks) {
    out.push(`<line x1="${left}" y1="${f(sy(t))}" x2="${right}" y2="${f(sy(t))}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${left - 6}" y="${f(sy(t) + 4)}" text-anchor="end" fill="#374151">${escapeXml(formatValue(t))}</text>`);
  }
  for (const t of niceTicks(x0, x1, 8)) {
    if (t < x0 || t > x1) continue;
    out.push(`<line x1="${f(sx(t))}" y1="${bottom}" x2="${f(sx(t))}" y2="${bottom + 4}" stroke="#374151"/>`);
    out.push(`<text x="${f(sx(t))}" y="${bottom + 16}" text-anchor="middle" fill="#374151">${escapeXml(fmt(t))}</text>`);
  }
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#374151"/>`);
  out.push(`<text x="${f((left + right) / 2)}" y="${bottom + 32}" text-anchor="middle" fill="#374151">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text x="14" y="${f((top + bottom) / 2)}" text-anchor="middle" fill="#374151" transform="rotate(-90 14 ${f((top + bottom) / 2)})">${escapeXml(o.yLabel)}</text>`);
  out.push('</g>');
  for (const h of o.hlines ?? []) {
    out.push(`<g class="hline"><line x1="${left}" y1="${f(sy(h.y))}" x2="${right}" y2="${f(sy(h.y))}" stroke="#6b7280" stroke-dasharray="2 3"/><text x="${right - 2}" y="${f(sy(h.y) - 3)}" text-anchor="end" font-size="10" fill="#6b7280">${escapeXml(h.label)}</text></g>`);
  }
  for (const s of colored) {
    let d = '';
    let pen = false;
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y) || !Number.isFinite(x)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${f(sx(x))} ${f(sy(y))}`;
      pen = true;
    }
    out.push(`<g class="series" data-series="${escapeXml(s.name)}">${d ? `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>` : ''}</g>`);
  }
  (o.marks ?? []).forEach((m, i) => {
    const mx = sx(m.x);
    const color = m.color ?? '#111827';
    // labels near the right edge are written leftwards so they stay inside the chart
    const leftwards = mx + m.label.length * 5.6 > right;
    out.push(`<g class="mark"><line x1="${f(mx)}" y1="${top}" x2="${f(mx)}" y2="${bottom}" stroke="${color}" stroke-width="1.2" stroke-dasharray="4 2"/><text x="${f(leftwards ? mx - 3 : mx + 3)}" y="${top + 26 + (i % 4) * 12}" font-size="10" fill="${color}"${leftwards ? ' text-anchor="end"' : ''}>${escapeXml(m.label)}</text></g>`);
  });
  if (o.footnote) out.push(`<text x="8" y="${height - 6}" font-size="10" fill="#6b7280">${escapeXml(o.footnote)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
