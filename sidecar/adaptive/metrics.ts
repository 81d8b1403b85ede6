/**
 * The adaptive limiter's metrics on the sidecar's registry: `ratewarden_adaptive_limit`,
 * `ratewarden_adaptive_inflight`, `ratewarden_adaptive_queued` (read at scrape time from whatever
 * limiter is current, so a policy reload that replaces it keeps one set of series) and
 * `ratewarden_shed_total{tier}` (tier names come from the policy; anything else is `other`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LimiterStats } from './priorityLimiter.js';

export interface AdaptiveMetrics {
  countShed(tier: string): void;
  /** Points the gauges at the current limiter (null: no limiter, gauges absent). */
  watch(stats: (() => LimiterStats) | null): void;
  setTiers(tiers: readonly string[]): void;
}

const byRegistry = new WeakMap<Registry, AdaptiveMetrics>();

export function adaptiveMetrics(registry: Registry): AdaptiveMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  let source: (() => LimiterStats) | null = null;
  let tiers = new Set<string>();
  // the gauges are on the registry only while a limiter exists (a reload may remove it)
  const gauges: Gauge[] = [];
  const gauge = (name: string, help: string, pick: (s: LimiterStats) => number): void => {
    gauges.push(
      new Gauge({
        name,
        help,
        registers: [],
        collect() {
          if (source) this.set(pick(source()));
        },
      }),
    );
  };
  gauge('ratewarden_adaptive_limit', 'Adaptive concurrency limit toward the upstream', (s) => s.limit);
  gauge('ratewarden_adaptive_inflight', 'Requests in flight to the upstream under the adaptive limit', (s) => s.inflight);
  gauge('ratewarden_adaptive_queued', 'Requests waiting for an adaptive-limit slot', (s) => s.queued);
  const shed = new Counter({ name: 'ratewarden_shed_total', help: 'Requests shed with 503 by the adaptive concurrency limit, by tier', labelNames: ['tier'] as const, registers: [registry] });
  const children = new Map<string, { inc(): void }>();
  const metrics: AdaptiveMetrics = {
    countShed(tier) {
      const label = tiers.has(tier) ? tier : 'other';
      let child = children.get(label);
      if (child === undefined) {
        child = shed.labels({ tier: label });
        children.set(label, child);
      }
      child.inc();
    },
    watch(stats) {
      source = stats;
      for (const g of gauges) {
        const name = (g as unknown as { name: string }).name;
        const registered = registry.getSingleMetric(name) !== undefined;
        if (stats && !registered) registry.registerMetric(g);
        else if (!stats && registered) registry.removeSingleMetric(name);
      }
    },
    setTiers(names) {
      tiers = new Set(names);
      children.clear();
    },
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
