/** Seeded pseudo-random numbers (mulberry32) so training data, tests and benchmarks are reproducible. */
export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal (Box–Muller). */
export function gaussian(rng: Rng): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

export function exponential(rng: Rng, mean: number): number {
  return -Math.log(Math.max(rng(), 1e-12)) * mean;
}

export function poisson(rng: Rng, lambda: number): number {
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gaussian(rng)));
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rng();
  while (p > limit) {
    k++;
    p *= rng();
  }
  return k;
}

/** Zipf-like rank in [0, n): small ranks much more likely. */
export function zipf(rng: Rng, n: number, s = 1.1): number {
  // inverse-CDF of a continuous power law, good enough for traffic shapes
  const u = rng();
  const x = Math.pow(1 - u * (1 - Math.pow(n + 1, 1 - s)), 1 / (1 - s)) - 1;
  return Math.min(n - 1, Math.max(0, Math.floor(x)));
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}
