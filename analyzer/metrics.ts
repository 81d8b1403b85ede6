/**
 * The analyzer's Prometheus metrics (prefix `ratewarden_`; names of DESIGN.md first), on a registry
 * of its own so several analyzers in one process (tests, the demo) never collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { followTotal } from '../models/followTotal.js';

export class AnalyzerMetrics {
  readonly registry = new Registry();
  // DESIGN.md
  readonly eventsConsumed = new Counter({ name: 'ratewarden_events_consumed_total', help: 'Call events ingested', registers: [this.registry] });
  readonly consumerLag = new Gauge({ name: 'ratewarden_consumer_lag', help: 'Events behind the head of the assigned partitions (sum)', registers: [this.registry] });
  readonly anomalies = new Counter({ name: 'ratewarden_anomalies_total', help: 'Anomaly reports opened, by dominant detector and action', labelNames: ['detector', 'action'], registers: [this.registry] });
  readonly activeBlocks = new Gauge({ name: 'ratewarden_active_blocks', help: 'Blocks in force in the control plane', registers: [this.registry] });
  readonly activeOverrides = new Gauge({ name: 'ratewarden_active_overrides', help: 'Overrides (tightenings) in force in the control plane', registers: [this.registry] });
  // analyzer internals
  readonly eventsBad = new Counter({ name: 'ratewarden_events_bad_total', help: 'Events skipped as bad: undecodable, or an event time more than 60 s ahead of the clock (or ≤ 0)', registers: [this.registry] });
  readonly eventsLate = new Counter({ name: 'ratewarden_events_late_total', help: 'Events that arrived after their window closed (folded into the next open window)', registers: [this.registry] });
  readonly clientsEvicted = new Counter({ name: 'ratewarden_clients_evicted_total', help: 'Clients evicted from the LRU (state dropped)', registers: [this.registry] });
  readonly clients = new Gauge({ name: 'ratewarden_analyzer_clients', help: 'Clients with state', registers: [this.registry] });
  readonly windowsClosed = new Counter({ name: 'ratewarden_windows_closed_total', help: 'Client windows closed', labelNames: ['window'], registers: [this.registry] });
  readonly windowsPartial = new Counter({ name: 'ratewarden_windows_partial_total', help: 'Windows not scored: closed early on partition revocation, or minutes the new owner of a partition read only in part (begun before its first event read)', registers: [this.registry] });
  readonly earlyLooks = new Counter({ name: 'ratewarden_early_looks_total', help: 'Open minutes scored before they closed (earlyLookMs, and the watch of earlyWatchScore)', registers: [this.registry] });
  readonly openWindowLooks = new Counter({ name: 'ratewarden_open_window_looks_total', help: 'Open 10 s windows looked at before they closed (openWindowLook): volumetric bursts, identity rules', registers: [this.registry] });
  readonly actions = new Counter({ name: 'ratewarden_actions_total', help: 'Actions written to the control plane', labelNames: ['action'], registers: [this.registry] });
  readonly controlErrors = new Counter({ name: 'ratewarden_control_write_errors_total', help: 'Control-plane writes that failed', registers: [this.registry] });
  readonly reportErrors = new Counter({ name: 'ratewarden_report_store_errors_total', help: 'Report store operations that failed', registers: [this.registry] });
  readonly scoreSeconds = new Histogram({ name: 'ratewarden_score_seconds', help: 'Time to score one batch of closed windows', buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });
  readonly serviceRequestsDropped = new Counter({ name: 'ratewarden_service_requests_dropped_total', help: 'Requests left out of the service-wide request-rate series: a service past the 1,000 held (service_cap), or 10 s windows past the 1,000 waiting for a partition behind the others (backlog)', labelNames: ['reason'], registers: [this.registry] });
  readonly watermarkLag = new Gauge({ name: 'ratewarden_watermark_lag_seconds', help: 'Clock minus the oldest partition watermark', registers: [this.registry] });
  readonly modelVersionsPruned = new Counter({ name: 'ratewarden_model_versions_pruned_total', help: 'Retrained model versions removed from --model-out beyond the newest --retrain-keep', registers: [this.registry] });
  readonly modelInfo = new Gauge({ name: 'ratewarden_model_info', help: 'Loaded learned model (1)', labelNames: ['version', 'backend'], registers: [this.registry] });
  // state snapshots (analyzer/state/)
  readonly stateRestores = new Counter({ name: 'ratewarden_state_restores_total', help: 'Clients admitted, by what their snapshot lookup gave: restored, absent (none stored), bad (did not decode: started fresh), error (lookup failed or timed out), skipped (not looked up: a bound or the store backing off)', labelNames: ['result'], registers: [this.registry] });
  readonly stateLookupSeconds = new Histogram({ name: 'ratewarden_state_lookup_seconds', help: 'Time of one batched snapshot lookup', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
  readonly statePending = new Gauge({ name: 'ratewarden_state_pending_clients', help: 'Clients whose events are held while their snapshot is looked up', registers: [this.registry] });
  readonly stateSnapshots = new Counter({ name: 'ratewarden_state_snapshots_total', help: 'Client snapshots written', registers: [this.registry] });
  readonly stateSnapshotBytes = new Counter({ name: 'ratewarden_state_snapshot_bytes_total', help: 'Bytes of client and population snapshots written', registers: [this.registry] });
  readonly stateSnapshotErrors = new Counter({ name: 'ratewarden_state_snapshot_errors_total', help: 'Snapshot writes that failed (the clients stay dirty and are retried)', registers: [this.registry] });
  readonly stateSnapshotsSkipped = new Counter({ name: 'ratewarden_state_snapshots_skipped_total', help: 'Clients not written because they have too little history (and no decision state) to be worth restoring', registers: [this.registry] });
  readonly stateSnapshotDropped = new Counter({ name: 'ratewarden_state_snapshot_dropped_total', help: 'Evicted or handed-off clients whose last changes were not written (hand-off queue full)', registers: [this.registry] });
  readonly stateFlushSeconds = new Histogram({ name: 'ratewarden_state_flush_seconds', help: 'Time to encode and write one snapshot flush', buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });

  // anomaly reports leaving the analyzer (reports/publisher.ts) and the in-memory report store's bound,
  // read at scrape time from what watchReports() was given
  private reportSources: ReportCounts = {};
  // the event source's own drops (ingest/kafkaEventSource.ts), read at scrape time from what watchIngest() was given
  private ingestSource: IngestCounts | null = null;
  constructor(defaults = false) {
    const follow = (name: string, help: string, read: (s: ReportCounts) => number | undefined): void => followTotal(name, help, this.registry, () => read(this.reportSources));
    follow('ratewarden_reports_published_total', 'Anomaly reports (and their changes) delivered to the anomalies topic', (s) => s.publisher?.stats.published);
    follow('ratewarden_reports_dropped_total', 'Anomaly reports not delivered to the anomalies topic: its queue was full (oldest dropped first), or the topic refused one report alone as too large', (s) => s.publisher?.stats.dropped);
    follow('ratewarden_report_publish_errors_total', 'Failed deliveries of a batch of reports to the anomalies topic (kept and retried with backoff)', (s) => s.publisher?.stats.errors);
    follow('ratewarden_report_history_dropped_total', 'Oldest report history entries dropped past the history bound (1,000 entries or 256 KiB per report; the first entry and the earliest one that put something in force are kept)', (s) => s.store?.historyDropped);
    follow('ratewarden_reports_evicted_total', 'Reports the in-memory report store dropped, oldest first, past its bound of 100 000 (demo and tests; the Redis store keeps reports by retention)', (s) => s.store?.dropped);
    followTotal('ratewarden_commit_windows_forgotten_total', 'Windows the commit gate stopped holding back past 4,096 per partition: the commit may pass their events before they are scored, so a crash could lose them', this.registry, () => this.ingestSource?.windowsForgotten);
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'ratewarden_analyzer_' });
  }

  /** Points the ingest counters at the event source (the CLI's KafkaEventSource; a source without counts exports 0). */
  watchIngest(source: IngestCounts | null): void {
    this.ingestSource = source;
  }

  /** Points the report counters at the analyzer's publisher and report store (either may lack counts). */
  watchReports(sources: ReportCounts): void {
    this.reportSources = sources;
  }
}

/** What the ingest counters read: the Kafka source's windows dropped by its commit gate. */
export interface IngestCounts {
  readonly windowsForgotten?: number;
}

/** What the report counters read: a publisher's stats, a store's `dropped` count when it keeps one (MemoryReportStore), and its `historyDropped` (both stores). */
export interface ReportCounts {
  readonly publisher?: { readonly stats: { readonly published: number; readonly dropped: number; readonly errors: number } } | null;
  readonly store?: { readonly dropped?: number; readonly historyDropped?: number } | null;
}
