/**
 * Period detection by autocorrelation over the bounded history ring buffer: the period is the
 * highest local maximum of the sample ACF at lags 3..n/2 when it reaches `minAcf`, else 0 (none).
 * O(n²/2) but run only every `periodEvery` updates (amortised ~3k multiply-adds per update for
 * n = 1024), and only in the 'full' profile.
 */

let scratch = new Float64Array(0);
let acf = new Float64Array(0);

/**
 * @param ring   the history ring (length = capacity)
 * @param pushed how many values were ever pushed (the newest is at (pushed − 1) % capacity)
 */
export function detectPeriod(ring: Float64Array, pushed: number, minAcf: number): number {
  const cap = ring.length;
  const n = Math.min(pushed, cap);
  if (scratch.length < n) scratch = new Float64Array(cap);
  // unroll oldest → newest and demean
  let mu = 0;
  for (let i = 0; i < n; i++) {
    const v = ring[(pushed - n + i) % cap]!;
    scratch[i] = v;
    mu += v;
  }
  mu /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    const d = scratch[i]! - mu;
    scratch[i] = d;
    variance += d * d;
  }
  if (!(variance > 0)) return 0;
  variance /= n;
  const maxLag = n >> 1;
  if (acf.length < maxLag + 1) acf = new Float64Array(maxLag + 1);
  for (let k = 2; k <= maxLag; k++) {
    let c = 0;
    for (let i = 0; i + k < n; i++) c += scratch[i]! * scratch[i + k]!;
    acf[k] = c / (n - k) / variance;
  }
  let best = 0;
  let bestLag = 0;
  for (let k = 3; k < maxLag; k++) {
    const a = acf[k]!;
    if (a >= acf[k - 1]! && a >= acf[k + 1]! && a > best) {
      best = a;
      bestLag = k;
    }
  }
  return best >= minAcf ? bestLag : 0;
}
