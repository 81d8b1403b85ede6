/**
 * Little-endian byte writer and reader for the analyzer's state snapshots. The writer grows its
 * buffer by doubling; the reader throws on any read past the end, so a truncated snapshot fails to
 * decode instead of producing numbers from nowhere.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(initial = 4_096) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.at;
  }

  private room(n: number): number {
    const at = this.at;
    if (at + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.at = at + n;
    return at;
  }

  u8(x: number): void {
    const at = this.room(1); // before reading this.view: room() may replace it
    this.view.setUint8(at, x);
  }

  u16(x: number): void {
    const at = this.room(2); // before reading this.view: room() may replace it
    this.view.setUint16(at, x, true);
  }

  u32(x: number): void {
    const at = this.room(4); // before reading this.view: room() may replace it
    this.view.setUint32(at, x, true);
  }

  f32(x: number): void {
    const at = this.room(4); // before reading this.view: room() may replace it
    this.view.setFloat32(at, x, true);
  }

  f64(x: number): void {
    const at = this.room(8); // before reading this.view: room() may replace it
    this.view.setFloat64(at, x, true);
  }

  /** A string of at most 255 UTF-8 bytes; a longer one is written empty (returns false). */
  str8(s: string): boolean {
    const bytes = encoder.encode(s);
    if (bytes.length > 255) {
      this.u8(0);
      return false;
    }
    this.u8(bytes.length);
    const at = this.room(bytes.length);
    this.buf.set(bytes, at);
    return true;
  }

  f32s(xs: ArrayLike<number>): void {
    for (let i = 0; i < xs.length; i++) this.f32(xs[i]!);
  }

  f64s(xs: ArrayLike<number>): void {
    for (let i = 0; i < xs.length; i++) this.f64(xs[i]!);
  }

  u16s(xs: ArrayLike<number>): void {
    for (let i = 0; i < xs.length; i++) this.u16(xs[i]!);
  }

  u32s(xs: ArrayLike<number>): void {
    for (let i = 0; i < xs.length; i++) this.u32(xs[i]!);
  }

  /** The bytes written (a copy, so the writer can be reused). */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.at);
  }

  /** The bytes written so far, without copying (valid until the next write). */
  written(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }

  reset(): void {
    this.at = 0;
  }
}

export class ByteReader {
  private readonly view: DataView;
  private at = 0;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }

  private take(n: number): number {
    const at = this.at;
    if (at + n > this.buf.length) throw new Error(`snapshot truncated at byte ${at} (needs ${n} more)`);
    this.at = at + n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }

  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  f32(): number {
    return this.view.getFloat32(this.take(4), true);
  }

  f64(): number {
    return this.view.getFloat64(this.take(8), true);
  }

  str8(): string {
    const n = this.u8();
    const at = this.take(n);
    return decoder.decode(this.buf.subarray(at, at + n));
  }

  f32s(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.f32();
    return out;
  }

  f64s(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.f64();
    return out;
  }

  u16s(n: number): Uint16Array {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u16();
    return out;
  }

  u32s(n: number): Uint32Array {
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32();
    return out;
  }
}
