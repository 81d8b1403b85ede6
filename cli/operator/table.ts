/**
 * Plain-text output for operators: aligned tables and key/value blocks. Every cell is made safe for
 * a terminal first — report data (client keys, reasons, notes) must never smuggle escape sequences.
 */

/** Replaces C0/C1 control characters (ESC included) so text cannot drive the terminal. */
export function safeCell(value: unknown, max = 60): string {
  const text = value === null || value === undefined ? '-' : String(value);
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? clean.slice(0, max - 1) + '…' : clean;
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly unknown[]>, maxCell = 60): string {
  const cells = rows.map((row) => headers.map((_, i) => safeCell(row[i], maxCell)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

export function keyValues(pairs: ReadonlyArray<readonly [string, unknown]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${(k + ':').padEnd(width + 1)}  ${safeCell(v, 200)}`).join('\n') + '\n';
}

export function isoTime(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function shortDuration(ms: number): string {
  let s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}
