/**
 * Detectors by name, for `ratewarden replay --detector NAME` and for analyzer configuration.
 * Each entry makes a fresh detector for one series.
 */
import { createSeriesDetector } from './seriesDetector.js';
import type { SeriesDetector, SeriesDetectorOptions } from './types.js';
import { createZScoreDetector } from './zscoreDetector.js';

export interface DetectorEntry {
  readonly summary: string;
  /** `minScale` is honoured by the series detectors and ignored by the baselines. */
  readonly create: (options?: Pick<SeriesDetectorOptions, 'minScale'>) => SeriesDetector;
}

export const SERIES_DETECTORS: Readonly<Record<string, DetectorEntry>> = {
  series: { summary: "the analyzer's streaming detector, 'full' profile (per-service series; the default)", create: (o) => createSeriesDetector({ ...o, profile: 'full' }) },
  'series-light': { summary: "the same detector, 'light' profile (per-client series)", create: (o) => createSeriesDetector({ ...o, profile: 'light' }) },
  zscore: { summary: 'baseline: rolling z-score over the previous 300 values', create: () => createZScoreDetector() },
};

export const DEFAULT_SERIES_DETECTOR = 'series';

export function seriesDetectorNames(): string[] {
  return Object.keys(SERIES_DETECTORS);
}

/** A fresh detector by name, or undefined for an unknown name. */
export function createSeriesDetectorByName(name: string, options: Pick<SeriesDetectorOptions, 'minScale'> = {}): SeriesDetector | undefined {
  return Object.hasOwn(SERIES_DETECTORS, name) ? SERIES_DETECTORS[name]!.create(options) : undefined;
}
