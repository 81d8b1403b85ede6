/**
 * Small fixed-size sketches behind the per-client features of models/features.ts. A client can
 * send any number of distinct routes, IPs or user agents, so nothing here grows with its input.
 *
 * - `hashString`: FNV-1a over UTF-16 code units, finished with murmur3's fmix32 so every bit is
 *   usable by the sketches below.
 * - `DistinctCounter`: exact up to `DISTINCT_EXACT_CAP` (32) distinct 32-bit hashes, then a
 *   HyperLogLog with 256 registers: relative standard error 1.04/√256 ≈ 6.5 % (linear counting
 *   keeps small counts near exact). At most 128 + 256 bytes.
 * - `RouteMemory`: which routes a client has requested before, as two rotating Bloom-filter
 *   generations of 2,048 bits with 3 probes. A generation holds at most 128 routes (false-positive
 *   rate ≤ 0.5 % each, ≤ 1 % for the pair), so the memory recalls the last 128–256 distinct
 *   routes and forgets older ones. 512 bytes.
 */

export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export const DISTINCT_EXACT_CAP = 32;
const HLL_P = 8;
const HLL_M = 1 << HLL_P;
const HLL_ALPHA = 0.7213 / (1 + 1.079 / HLL_M);

export class DistinctCounter {
  private exact: Uint32Array | null = null;
  private n = 0;
  private registers: Uint8Array | null = null;

  /** Adds an element by its 32-bit hash (hashString). */
  add(hash: number): void {
    if (this.registers !== null) {
      hllAdd(this.registers, hash);
      return;
    }
    let exact = this.exact;
    if (exact === null) exact = this.exact = new Uint32Array(4);
    const n = this.n;
    for (let i = 0; i < n; i++) if (exact[i] === hash) return;
    if (n === exact.length) {
      if (n >= DISTINCT_EXACT_CAP) {
        this.toSketch();
        hllAdd(this.registers!, hash);
        return;
      }
      const grown = new Uint32Array(n * 2);
      grown.set(exact);
      exact = this.exact = grown;
    }
    exact[n] = hash >>> 0;
    this.n = n + 1;
  }

  get isExact(): boolean {
    return this.registers === null;
  }

  count(): number {
    if (this.registers === null) return this.n;
    let sum = 0;
    let zeros = 0;
    const r = this.registers;
    for (let i = 0; i < HLL_M; i++) {
      sum += 2 ** -r[i]!;
      if (r[i] === 0) zeros++;
    }
    const estimate = (HLL_ALPHA * HLL_M * HLL_M) / sum;
    if (estimate <= 2.5 * HLL_M && zeros > 0) return Math.round(HLL_M * Math.log(HLL_M / zeros));
    return Math.round(estimate);
  }

  /** Union with another counter (used to roll 10 s windows up into 60 s ones). */
  merge(other: DistinctCounter): void {
    if (other.registers !== null) {
      if (this.registers === null) this.toSketch();
      const mine = this.registers!;
      const theirs = other.registers;
      for (let i = 0; i < HLL_M; i++) if (theirs[i]! > mine[i]!) mine[i] = theirs[i]!;
      return;
    }
    const exact = other.exact;
    for (let i = 0; i < other.n; i++) this.add(exact![i]!);
  }

  /** Bytes held (for the per-client state figure). */
  get bytes(): number {
    return (this.exact?.byteLength ?? 0) + (this.registers?.byteLength ?? 0);
  }

  private toSketch(): void {
    const registers = new Uint8Array(HLL_M);
    for (let i = 0; i < this.n; i++) hllAdd(registers, this.exact![i]!);
    this.registers = registers;
    this.exact = null;
    this.n = 0;
  }
}

function hllAdd(registers: Uint8Array, hash: number): void {
  const index = hash >>> (32 - HLL_P);
  const rest = (hash << HLL_P) >>> 0;
  const rank = rest === 0 ? 32 - HLL_P + 1 : Math.clz32(rest) + 1;
  if (rank > registers[index]!) registers[index] = rank;
}

const BLOOM_BITS = 2048;
const BLOOM_WORDS = BLOOM_BITS / 32;
const BLOOM_PROBES = 3;
/** Inserts per generation before rotating: keeps each generation's false-positive rate ≤ 0.5 %. */
export const ROUTE_MEMORY_GENERATION = 128;

export class RouteMemory {
  private readonly bits = new Uint32Array(2 * BLOOM_WORDS);
  private current = 0;
  private inserted = 0;

  /** Whether the route (by hash) was seen before; remembers it either way. */
  seenOrAdd(hash: number): boolean {
    const h2 = fmix32(hash ^ 0x5bd1e995) | 1;
    let seenCurrent = true;
    let seenOther = true;
    const cur = this.current * BLOOM_WORDS;
    const other = (1 - this.current) * BLOOM_WORDS;
    for (let i = 0; i < BLOOM_PROBES; i++) {
      const bit = ((hash + Math.imul(i, h2)) >>> 0) % BLOOM_BITS;
      const word = bit >>> 5;
      const mask = 1 << (bit & 31);
      if ((this.bits[cur + word]! & mask) === 0) seenCurrent = false;
      if ((this.bits[other + word]! & mask) === 0) seenOther = false;
    }
    if (seenCurrent) return true;
    if (this.inserted >= ROUTE_MEMORY_GENERATION) {
      // rotate: the older generation is forgotten, the current one becomes the older
      this.current = 1 - this.current;
      this.bits.fill(0, this.current * BLOOM_WORDS, (this.current + 1) * BLOOM_WORDS);
      this.inserted = 0;
    }
    const target = this.current * BLOOM_WORDS;
    for (let i = 0; i < BLOOM_PROBES; i++) {
      const bit = ((hash + Math.imul(i, h2)) >>> 0) % BLOOM_BITS;
      this.bits[target + (bit >>> 5)]! |= 1 << (bit & 31);
    }
    this.inserted++;
    return seenOther;
  }

  get bytes(): number {
    return this.bits.byteLength;
  }

  /** A copy of the memory (the analyzer's state snapshots): both generations' bits, which is current, inserts into it. */
  exportState(): { bits: Uint32Array; current: number; inserted: number } {
    return { bits: this.bits.slice(), current: this.current, inserted: this.inserted };
  }

  /** Replaces the memory with one exportState() produced; throws on another shape. */
  importState(s: { bits: ArrayLike<number>; current: number; inserted: number }): void {
    if (s.bits.length !== this.bits.length || (s.current !== 0 && s.current !== 1) || !(s.inserted >= 0 && s.inserted <= ROUTE_MEMORY_GENERATION)) throw new Error('route memory state has another shape');
    this.bits.set(s.bits);
    this.current = s.current;
    this.inserted = s.inserted;
  }
}
