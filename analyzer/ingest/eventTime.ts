/**
 * Which event times the analyzer believes. Event time drives everything downstream: the partition
 * watermark (windows close when it passes their end), the warm-up mark (persisted for the group),
 * the commit gate's held-back offset and the load watcher's sliding window. One event stamped by a
 * sidecar whose clock is a year ahead would move all of them for good: the watermark jumps and
 * every later event counts as late, the warm-up never ends, the commit gate never passes that
 * window. So an event whose time is beyond the analyzer's clock by more than MAX_CLOCK_SKEW_MS is
 * counted as bad and skipped (DESIGN.md: "a bad event is counted and skipped").
 *
 * Old events are kept, however old: consumer lag after an outage, a slow partition, a topic read
 * from the beginning (backtests replay simulated days of 2024) are all legitimate, and an old event
 * cannot stall anything — at worst it is late and folded into an open window (events_late_total);
 * the watermark only moves forward, and a warm-up that starts at an old event time is the warm-up
 * of a backlog, in event time, as intended. No age bound fits every deployment (a topic's retention is
 * the operator's choice), so none is imposed. Only ts ≤ 0 is skipped: no sidecar stamps the epoch
 * itself, so it is a missing time, not an old one.
 *
 * `now` is the caller's clock — the Analyzer's injected one — so simulated clocks (the detection
 * backtest, the simulator) bound simulated event times.
 */

/** How far ahead of the analyzer's clock an event time may be (sidecar clock skew). */
export const MAX_CLOCK_SKEW_MS = 60_000;

export type EventTimeFault = 'future' | 'unset';

/** Why an event time is not believed at `now`, or null when it is (NaN counts as unset). */
export function eventTimeFault(ts: number, now: number): EventTimeFault | null {
  if (ts > now + MAX_CLOCK_SKEW_MS) return 'future';
  return ts > 0 ? null : 'unset';
}

/** The message counted for a skipped event (the bad-events counter and its debug log line). */
export function describeEventTimeFault(fault: EventTimeFault, ts: number, now: number): string {
  return fault === 'future'
    ? `event time ${Math.round((ts - now) / 1000)} s ahead of the analyzer's clock (more than ${MAX_CLOCK_SKEW_MS / 1000} s of clock skew): skipped`
    : `event time ${ts} (≤ 0: no event time): skipped`;
}
