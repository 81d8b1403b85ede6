/**
 * Univariate streaming anomaly detection for one series (per client × feature, per service, or
 * a CSV replayed by `ratewarden replay`). See seriesDetector.ts for how it works and
 * bench/nab/README.md for how it was evaluated.
 */
export type { SeriesDetector, SeriesDetectorOptions, SeriesExplanation, SeriesProfile } from './types.js';
export { createSeriesDetector } from './seriesDetector.js';
export { PROFILES, paramsFor, type SeriesParams } from './params.js';
export { createZScoreDetector } from './zscoreDetector.js';
export { SERIES_DETECTORS, DEFAULT_SERIES_DETECTOR, seriesDetectorNames, createSeriesDetectorByName, type DetectorEntry } from './registry.js';
export { parseUtcTimestamp } from './timestamp.js';
