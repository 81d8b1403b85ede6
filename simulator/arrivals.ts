/**
 * When calls happen. Each simulated caller is an `Actor` that knows the time of its next call; the
 * generator merges actors by that time with a heap, so output is exactly time-ordered, lazy (an
 * endless live simulation costs memory per actor, not per event) and costs O(log actors) per event.
 */
import type { SimCall } from './calls.js';
import type { Rng } from './random.js';

/** A point process: successive arrival times (epoch ms, fractional), Infinity when exhausted. */
export interface Arrivals {
  next(): number;
}

/** A segment of constant rate: arrivals per ms in [from, endMs). */
export interface RateSegment {
  readonly endMs: number;
  readonly ratePerMs: number;
}

/**
 * A Poisson process whose rate is piecewise constant over segments the caller defines (minutes
 * for diurnal clients, random on/off periods for bursty attackers). Exact by memorylessness: an
 * exponential gap that overshoots its segment is redrawn from the segment's end at the next rate.
 */
export class PiecewisePoisson implements Arrivals {
  private cursor: number;
  private segmentEnd: number;
  private rate: number;

  constructor(
    private readonly rng: Rng,
    startMs: number,
    private readonly endMs: number,
    private readonly segment: (fromMs: number) => RateSegment,
  ) {
    this.cursor = startMs;
    const first = startMs < endMs ? segment(startMs) : { endMs, ratePerMs: 0 };
    this.segmentEnd = Math.min(first.endMs, endMs);
    this.rate = first.ratePerMs;
  }

  next(): number {
    while (this.cursor < this.endMs) {
      if (this.rate > 0) {
        const candidate = this.cursor + this.rng.exponential(this.rate);
        if (candidate < this.segmentEnd) {
          this.cursor = candidate;
          return candidate;
        }
      }
      this.cursor = this.segmentEnd;
      if (this.cursor >= this.endMs) break;
      const seg = this.segment(this.cursor);
      // a segment must move time forward, or a zero-length segment function would spin forever
      this.segmentEnd = Math.min(Math.max(seg.endMs, this.cursor + 1), this.endMs);
      this.rate = seg.ratePerMs;
    }
    return Infinity;
  }
}

/** Bot-like regularity: one arrival per period, each gap jittered by ±jitter/2 of the period. */
export class JitteredPeriodic implements Arrivals {
  private cursor: number;

  constructor(
    private readonly rng: Rng,
    startMs: number,
    private readonly endMs: number,
    private readonly periodMs: number,
    private readonly jitter: number,
  ) {
    // a random phase, so several bots started at the same instant do not fire in lockstep
    this.cursor = startMs + rng.float() * periodMs;
  }

  next(): number {
    if (this.cursor >= this.endMs) return Infinity;
    const at = this.cursor;
    this.cursor += this.periodMs * (1 + this.jitter * (this.rng.float() - 0.5));
    return at;
  }
}

/** Minute-aligned segments: rates change on absolute minute boundaries. */
export const MINUTE_MS = 60_000;
export function minuteSegmentEnd(fromMs: number): number {
  return (Math.floor(fromMs / MINUTE_MS) + 1) * MINUTE_MS;
}

/** A simulated caller: the time of its next call, and the call itself. */
export interface Actor {
  /** Fractional epoch ms of the next call, Infinity when done. */
  readonly nextTs: number;
  /** The call at nextTs (its event's ts is that time floored to whole ms); advances nextTs. */
  take(): SimCall;
}

export class ArrivalActor implements Actor {
  nextTs: number;

  constructor(
    private readonly arrivals: Arrivals,
    private readonly make: (ts: number) => SimCall,
  ) {
    this.nextTs = arrivals.next();
  }

  take(): SimCall {
    const call = this.make(Math.floor(this.nextTs));
    this.nextTs = this.arrivals.next();
    return call;
  }
}
