/**
 * A fixed-capacity FIFO over a circular array: O(1) push and shift, no reallocation, and when full
 * the oldest item is overwritten (and returned, so the caller counts the drop). This is what bounds
 * the sidecar's memory while Kafka is away.
 */
export class RingBuffer<T> {
  private readonly items: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1) || !Number.isInteger(capacity)) throw new RangeError(`capacity must be a positive integer (got ${capacity})`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends; when full, the oldest item is dropped and returned. */
  push(item: T): T | undefined {
    const cap = this.capacity;
    if (this.count < cap) {
      this.items[(this.head + this.count) % cap] = item;
      this.count++;
      return undefined;
    }
    const dropped = this.items[this.head];
    this.items[this.head] = item;
    this.head = (this.head + 1) % cap;
    return dropped;
  }

  /** Removes and returns up to `n` oldest items, oldest first. */
  shift(n: number): T[] {
    const take = Math.min(n, this.count);
    const out = new Array<T>(take);
    const cap = this.capacity;
    for (let i = 0; i < take; i++) {
      const idx = (this.head + i) % cap;
      out[i] = this.items[idx] as T;
      this.items[idx] = undefined;
    }
    this.head = (this.head + take) % cap;
    this.count -= take;
    return out;
  }

  /** Puts items back at the front (oldest end) as far as room allows; returns how many did not fit. */
  unshift(items: readonly T[]): number {
    const cap = this.capacity;
    const room = cap - this.count;
    const fit = Math.min(room, items.length);
    // the newest of the returned items are kept; the oldest ones are what a full buffer drops anyway
    for (let i = items.length - 1; i >= items.length - fit; i--) {
      this.head = (this.head - 1 + cap) % cap;
      this.items[this.head] = items[i];
      this.count++;
    }
    return items.length - fit;
  }
}
