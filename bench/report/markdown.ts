/**
 * Markdown tables for the printed report (and the README's performance section, copied from it):
 * GitHub-flavoured, cells escaped, columns padded so the raw text reads as a table too.
 */

export type Align = 'left' | 'right';

/** Escapes what would break a cell: pipes and line breaks. */
export function escapeCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function markdownTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, align: readonly Align[] = []): string {
  const cells = [headers, ...rows].map((r) => headers.map((_, i) => escapeCell(r[i] ?? '')));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string => `| ${r.map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (align[i] === 'right' ? '-'.repeat(w - 1) + ':' : '-'.repeat(w))).join(' | ')} |`;
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join('\n');
}

/** A figure for a cell: whole and thousands-separated from 100 up, else `digits` decimals; "–" when missing. */
export function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

/** "1.62×" or "–". */
export function times(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`;
}
