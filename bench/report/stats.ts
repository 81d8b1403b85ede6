/**
 * The arithmetic behind every reported figure: medians over repetitions (one noisy repetition on a
 * shared machine must not decide a figure), percentiles of samples, and ratios against peers
 * measured in the same run.
 */

/** Median of the finite values, or null when there are none (an even count averages the middle two). */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of the samples, or null when there are none. */
export function percentile(samples: readonly number[], p: number): number | null {
  if (samples.length === 0) return null;
  const xs = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * xs.length);
  return xs[Math.min(xs.length - 1, Math.max(0, rank - 1))]!;
}

/** a / b rounded to `digits`, or null when either side is missing or b is not positive. */
export function ratio(a: number | null | undefined, b: number | null | undefined, digits = 2): number | null {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return round(a / b, digits);
}

export function round(x: number, digits?: number): number;
export function round(x: number | null, digits?: number): number | null;
export function round(x: number | null, digits = 3): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Merges repetitions of a part that returns named rows: one row per name (in first-seen order), each
 * numeric field the median over the repetitions that produced that row, `reps` the repetitions' values
 * of `main` (so the spread stays visible), and non-numeric fields from the first repetition.
 */
export function medianRows<T extends { readonly name: string }>(reps: readonly (readonly T[])[], main: keyof T & string): Array<T & { reps: Array<number | null> }> {
  const order: string[] = [];
  const byName = new Map<string, T[]>();
  for (const rows of reps) {
    for (const row of rows) {
      let list = byName.get(row.name);
      if (!list) {
        list = [];
        byName.set(row.name, list);
        order.push(row.name);
      }
      list.push(row);
    }
  }
  return order.map((name) => {
    const rows = byName.get(name)!;
    const merged: Record<string, unknown> = { ...rows[0]! };
    for (const key of Object.keys(merged)) {
      if (rows.some((r) => typeof (r as Record<string, unknown>)[key] === 'number')) {
        const m = median(rows.map((r) => (r as Record<string, unknown>)[key] as number | null));
        merged[key] = m === null ? null : round(m, 3);
      }
    }
    merged.reps = rows.map((r) => {
      const v = (r as Record<string, unknown>)[main];
      return typeof v === 'number' ? v : null;
    });
    return merged as T & { reps: Array<number | null> };
  });
}
