/**
 * Scrapes the upstream's own Prometheus endpoint (policy `analyzer.load.metricsUrl`) for the gauges
 * the policy names, each with its upper target (`gauges: { "queue_depth": 100 }`). Off the event
 * path: the control loop awaits it once per interval, with a timeout; a failed scrape is counted
 * and the gauges are simply absent from that interval's signals (the latency and error signals
 * still apply) — an unreachable metrics endpoint never tightens anything by itself.
 */
import { parseExposition, parseSelector, selectGauge, type GaugeSelector } from './promText.js';

export type FetchText = (url: string, timeoutMs: number) => Promise<string>;

export const defaultFetchText: FetchText = async (url, timeoutMs) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain;version=0.0.4' } });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  const text = await res.text();
  if (text.length > 8 * 1024 * 1024) throw new Error(`${url}: exposition larger than 8 MiB`);
  return text;
};

export interface ScrapeResult {
  /** Gauge key (as written in the policy) → value, for the gauges found. */
  readonly values: Readonly<Record<string, number>>;
  /** Gauge keys the endpoint did not expose. */
  readonly missing: readonly string[];
}

export class GaugeScraper {
  private readonly selectors: Array<[string, GaugeSelector]> = [];
  errors = 0;
  lastError: string | null = null;

  constructor(
    readonly url: string,
    gauges: Readonly<Record<string, number>>,
    private readonly fetchText: FetchText = defaultFetchText,
    private readonly timeoutMs = 2_000,
  ) {
    for (const key of Object.keys(gauges)) {
      const sel = parseSelector(key);
      if (!sel) throw new TypeError(`analyzer.load.gauges: "${key}" is not a metric name or selector`);
      this.selectors.push([key, sel]);
    }
  }

  /** The configured gauges' current values, or null when the scrape failed. */
  async scrape(): Promise<ScrapeResult | null> {
    let text: string;
    try {
      text = await this.fetchText(this.url, this.timeoutMs);
    } catch (err) {
      this.errors++;
      this.lastError = (err as Error).message;
      return null;
    }
    const { samples } = parseExposition(text);
    const values: Record<string, number> = {};
    const missing: string[] = [];
    for (const [key, sel] of this.selectors) {
      const v = selectGauge(samples, sel);
      if (v === null) missing.push(key);
      else values[key] = v;
    }
    return { values, missing };
  }
}
