/**
 * Stops sending to a Redis that fails, so an outage costs each request nothing (the fallback answers
 * at once) instead of a timeout each. While open it lets one call through per back-off period as a
 * probe; the first success closes it (automatic recovery). Back-off doubles from 50 ms to 1 s, so a
 * recovered Redis is back in use within about a second. Times are performance.now() ms.
 */
export const MIN_BACKOFF_MS = 50;
export const MAX_BACKOFF_MS = 1_000;

export class CircuitBreaker {
  healthy = true;
  private retryAt = 0;
  private backoffMs = MIN_BACKOFF_MS;

  allow(now: number): boolean {
    if (this.healthy) return true;
    if (now < this.retryAt) return false;
    this.retryAt = now + this.backoffMs; // one probe per period
    return true;
  }

  success(): void {
    this.healthy = true;
    this.backoffMs = MIN_BACKOFF_MS;
  }

  failure(now: number): void {
    this.healthy = false;
    this.retryAt = now + this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
  }
}
