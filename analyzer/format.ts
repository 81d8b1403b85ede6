/** Numbers in sentences for operators: 3 significant-ish digits, ratios as ratios. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (a >= 100) return String(Math.round(x));
  if (a >= 10) return x.toFixed(1).replace(/\.0$/, '');
  if (a === 0) return '0';
  return x.toFixed(2).replace(/\.?0+$/, '') || '0';
}
