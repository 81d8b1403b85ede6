/**
 * The analyzer's programmatic surface, for the demo, the operator API, the load controller and
 * scripts. See analyzer/README.md.
 */
export { Analyzer, reportIdFor, type AnalyzerOptions, type TickResult, type ScoredWindow, type ClientView, type ServiceSeriesView, type LogFn } from './analyzer.js';
export { startAnalyzer, type StartAnalyzerOptions, type RunningAnalyzer, type AnalyzerState, type AnalyzerPlugin } from './server.js';
export { AnalyzerMetrics } from './metrics.js';
export { Actuator, type ActiveAction, type ActionRequest } from './actions/actuator.js';
export { MemoryReportStore } from './reports/memoryStore.js';
export { RedisReportStore, reportKeys, DEFAULT_REPORTS_PREFIX } from './reports/redisStore.js';
export { MemoryReportPublisher, KafkaReportPublisher, type ReportPublisher } from './reports/publisher.js';
export type { ReportStore, ReportQuery, ReportPage, ReportTransition, TransitionResult } from './reports/store.js';
export { KafkaEventSource, type KafkaEventSourceOptions } from './ingest/kafkaEventSource.js';
export { loadSeriesFactory, ROBUST_Z_SERIES, type SeriesFactory, type SeriesScorer } from './detectors/seriesScorer.js';
export { loadAutoencoder, retrain, shippedModelDir } from './model.js';
export { DEFAULT_DETECTION, detectionOptions, type DetectionOptions } from './options.js';
export { decide, approved, dismissed, actionEnded, type DecisionState } from './decisions/decide.js';
