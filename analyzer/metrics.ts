/**
 * The analyzer's Prometheus metrics (prefix `ratewarden_`; names of DESIGN.md first), on a registry
 * of its own so several analyzers in one process (tests, the demo) never collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AnalyzerMetrics {
  readonly registry = new Registry();
  // DESIGN.md
  readonly eventsConsumed = new Counter({ name: 'ratewarden_events_consumed_total', help: 'Call events ingested', registers: [this.registry] });
  readonly consumerLag = new Gauge({ name: 'ratewarden_consumer_lag', help: 'Events behind the head of the assigned partitions (sum)', registers: [this.registry] });
  readonly anomalies = new Counter({ name: 'ratewarden_anomalies_total', help: 'Anomaly reports opened, by dominant detector and action', labelNames: ['detector', 'action'], registers: [this.registry] });
  readonly activeBlocks = new Gauge({ name: 'ratewarden_active_blocks', help: 'Blocks in force in the control plane', registers: [this.registry] });
  readonly activeOverrides = new Gauge({ name: 'ratewarden_active_overrides', help: 'Overrides (tightenings) in force in the control plane', registers: [this.registry] });
  // analyzer internals
  readonly eventsBad = new Counter({ name: 'ratewarden_events_bad_total', help: 'Undecodable events, counted and skipped', registers: [this.registry] });
  readonly eventsLate = new Counter({ name: 'ratewarden_events_late_total', help: 'Events that arrived after their window closed (folded into the next open window)', registers: [this.registry] });
  readonly clientsEvicted = new Counter({ name: 'ratewarden_clients_evicted_total', help: 'Clients evicted from the LRU (state dropped)', registers: [this.registry] });
  readonly clients = new Gauge({ name: 'ratewarden_analyzer_clients', help: 'Clients with state', registers: [this.registry] });
  readonly windowsClosed = new Counter({ name: 'ratewarden_windows_closed_total', help: 'Client windows closed', labelNames: ['window'], registers: [this.registry] });
  readonly windowsPartial = new Counter({ name: 'ratewarden_windows_partial_total', help: 'Windows closed early on partition revocation (not scored)', registers: [this.registry] });
  readonly actions = new Counter({ name: 'ratewarden_actions_total', help: 'Actions written to the control plane', labelNames: ['action'], registers: [this.registry] });
  readonly controlErrors = new Counter({ name: 'ratewarden_control_write_errors_total', help: 'Control-plane writes that failed', registers: [this.registry] });
  readonly reportErrors = new Counter({ name: 'ratewarden_report_store_errors_total', help: 'Report store operations that failed', registers: [this.registry] });
  readonly scoreSeconds = new Histogram({ name: 'ratewarden_score_seconds', help: 'Time to score one batch of closed windows', buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });
  readonly watermarkLag = new Gauge({ name: 'ratewarden_watermark_lag_seconds', help: 'Clock minus the oldest partition watermark', registers: [this.registry] });
  readonly modelInfo = new Gauge({ name: 'ratewarden_model_info', help: 'Loaded learned model (1)', labelNames: ['version', 'backend'], registers: [this.registry] });

  constructor(defaults = false) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'ratewarden_analyzer_' });
  }
}
