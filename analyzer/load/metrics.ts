/**
 * The load controller's metrics on the analyzer's registry: `ratewarden_load_multiplier{service}`
 * (DESIGN.md) and a few of its own. Registered once per registry, so a second control loop on the
 * same registry (a reload) reuses them.
 *
 * `service` comes from the events, so its values are bounded where the events are: the watcher
 * holds at most `maxServices` (default 256) services, forgets one idle for 10 minutes, and drops
 * (and counts here, `load_events_dropped_total{reason="service_cap"}`) the events of any other; the
 * loop removes a service's series once it has no traffic and nothing in force. `tier` values are
 * the policy's tiers. Every other label is a fixed set.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface LoadMetrics {
  readonly multiplier: Gauge<'service'>;
  readonly tierMultiplier: Gauge<'service' | 'tier'>;
  readonly pressure: Gauge<'service'>;
  readonly writes: Counter<'kind'>;
  readonly writeErrors: Counter;
  readonly scrapeErrors: Counter;
  /** Events the load watcher did not use: `service_cap` (services full), `late`, `future` (a clock far ahead). */
  readonly eventsDropped: Counter<'reason'>;
  /** Events counted as completing at the analyzer's clock: their sidecar's clock was ahead. */
  readonly eventsClockAhead: Counter;
  /** Services the watcher holds a window for (bounded by its cap). */
  readonly services: Gauge;
  /** Batches the load tap threw on (a bug: the loop missed them; ingestion went on). */
  readonly tapErrors: Counter;
}

/** Reasons of `ratewarden_load_events_dropped_total` (a fixed set). */
export const LOAD_DROP_REASONS = ['service_cap', 'late', 'future'] as const;

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
    eventsDropped: new Counter({
      name: 'ratewarden_load_events_dropped_total',
      help: 'Call events the load watcher did not use, by reason: service_cap (it holds as many services as it may: the event names another), late (completed more than a window before its service\'s newest), future (completing more than 60 s ahead of the clock)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    eventsClockAhead: new Counter({ name: 'ratewarden_load_events_clock_ahead_total', help: 'Call events completing after the analyzer\'s clock (a sidecar clock ahead), counted as completing at the clock', registers: [registry] }),
    services: new Gauge({ name: 'ratewarden_load_services', help: 'Services the load watcher holds a window for (at most 256; idle ones are forgotten after 10 minutes)', registers: [registry] }),
    tapErrors: new Counter({ name: 'ratewarden_load_tap_errors_total', help: 'Event batches the load controller missed because its tap threw (a bug; the analyzer still got them)', registers: [registry] }),
  };
  // every reason from the start, so a rate() sees the first drop
  for (const reason of LOAD_DROP_REASONS) m.eventsDropped.inc({ reason }, 0);
  byRegistry.set(registry, m);
  return m;
}
