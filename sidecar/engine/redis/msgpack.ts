/**
 * Writes one msgpack array of numbers and strings: the batch's arguments travel to the script as a
 * single value (decoded there by Redis's built-in `cmsgpack`) instead of thousands of separate
 * arguments — per-argument handling was the largest cost on both sides of a batched call (ioredis's
 * command building here, RESP parsing and `tonumber` in Redis). Hand-written because the shape is
 * this narrow: a general msgpack library would be larger and slower for it.
 */
export class MsgpackArrayWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  /** 5 bytes are kept for the array32 header, written by finish(). */
  private pos = 5;
  private count = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  number(x: number): void {
    this.count++;
    this.ensure(9);
    const b = this.buf;
    if (x >= 0 && x <= 0xffffffff && Number.isInteger(x)) {
      if (x < 128) b[this.pos++] = x;
      else if (x < 256) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = x;
      } else if (x < 65536) {
        b[this.pos++] = 0xcd;
        b.writeUInt16BE(x, this.pos);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xce;
        b.writeUInt32BE(x, this.pos);
        this.pos += 4;
      }
    } else {
      // everything else (fractions, negatives, epoch ms) as float64: exact for any JS number
      b[this.pos++] = 0xcb;
      b.writeDoubleBE(x, this.pos);
      this.pos += 8;
    }
  }

  string(s: string): void {
    this.count++;
    const n = Buffer.byteLength(s);
    this.ensure(n + 5);
    const b = this.buf;
    if (n < 32) b[this.pos++] = 0xa0 | n;
    else if (n < 256) {
      b[this.pos++] = 0xd9;
      b[this.pos++] = n;
    } else {
      b[this.pos++] = 0xda;
      b.writeUInt16BE(n, this.pos);
      this.pos += 2;
    }
    this.pos += b.write(s, this.pos);
  }

  /** The encoded array (a copy: the socket may still hold it when the next batch is written). */
  finish(): Buffer {
    this.buf[0] = 0xdd;
    this.buf.writeUInt32BE(this.count, 1);
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 5;
    this.count = 0;
    return out;
  }
}
