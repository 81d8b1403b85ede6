/**
 * The load controller's metrics on the analyzer's registry: `ratewarden_load_multiplier{service}`
 * (DESIGN.md) and a few of its own. Registered once per registry, so a second control loop on the
 * same registry (a reload) reuses them. Services are bounded by the watcher's cap.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface LoadMetrics {
  readonly multiplier: Gauge<'service'>;
  readonly tierMultiplier: Gauge<'service' | 'tier'>;
  readonly pressure: Gauge<'service'>;
  readonly writes: Counter<'kind'>;
  readonly writeErrors: Counter;
  readonly scrapeErrors: Counter;
}

const byRegistry = new WeakMap<Registry, LoadMetrics>();

export function loadMetrics(registry: Registry): LoadMetrics {
  const held = byRegistry.get(registry);
  if (held) return held;
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const m: LoadMetrics = {
    multiplier:
      existing<Gauge<'service'>>('ratewarden_load_multiplier') ??
      new Gauge({ name: 'ratewarden_load_multiplier', help: 'Load multiplier per service published to rw:ctl:load (1: no tightening)', labelNames: ['service'] as const, registers: [registry] }),
    tierMultiplier: new Gauge({ name: 'ratewarden_load_tier_multiplier', help: 'Per-tier load multiplier after priority shedding', labelNames: ['service', 'tier'] as const, registers: [registry] }),
    pressure: new Gauge({ name: 'ratewarden_load_pressure', help: 'Worst observed/target ratio of the load signals (above 1: past a target)', labelNames: ['service'] as const, registers: [registry] }),
    writes: new Counter({ name: 'ratewarden_load_writes_total', help: 'Load multiplier writes to the control plane, by kind (change, refresh)', labelNames: ['kind'] as const, registers: [registry] }),
    writeErrors: new Counter({ name: 'ratewarden_load_write_errors_total', help: 'Load multiplier writes that failed (retried next interval)', registers: [registry] }),
    scrapeErrors: new Counter({ name: 'ratewarden_load_scrape_errors_total', help: 'Failed scrapes of analyzer.load.metricsUrl', registers: [registry] }),
  };
  byRegistry.set(registry, m);
  return m;
}
