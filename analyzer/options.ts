/**
 * Detection tuning: windows, lateness, thresholds of the detectors, fusion and hysteresis. These
 * are engineering constants with defaults chosen on synthetic population traffic (bench/analyzer);
 * the operator-facing knobs (what to do at which score) are the policy's `analyzer:` section.
 */

export interface RuleThresholds {
  /** Credential stuffing: 401/403 answers in the window at least this many … */
  readonly minAuthFailures: number;
  /** … and at least this share of the window's requests. */
  readonly minAuthFailureRatio: number;
  /** Scraping / enumeration: distinct routes in the window at least this many. */
  readonly minDistinctRoutes: number;
  /** … with at least this share of requests to never-seen routes. */
  readonly minNewRouteShare: number;
  /** Volumetric: requests in the window at least this many … */
  readonly minRequests: number;
  /** … and at least this multiple of the (seasonal) baseline. */
  readonly volumeFactor: number;
  /** Key sharing: distinct IPs behind one API key / user at least this many. */
  readonly minDistinctIps: number;
}

export interface LowAndSlowThresholds {
  /** Window of the test, in 60 s windows, and how many of them must be elevated. */
  readonly span: number;
  readonly minElevated: number;
  /** Elevated: at least this multiple of the slow baseline … */
  readonly factor: number;
  /** … and at least this many per minute (requests, auth failures, new routes). */
  readonly minRequests: number;
  readonly minAuthFailures: number;
  readonly minNewRoutes: number;
  /** Slow baseline EWMA weight per 60 s window (≈ 1/alpha minutes of memory). */
  readonly alpha: number;
}

export interface DetectionOptions {
  /** Bounded lateness: a window closes once event time has passed its end by this much. */
  readonly latenessMs: number;
  /** A partition without events for this long advances its watermark with the clock. */
  readonly idleMs: number;
  /** Closed windows scored per slice before yielding to the event loop. */
  readonly scoreSlice: number;
  /** A report opens at this fused score … */
  readonly openThreshold: number;
  /** … and its episode ends after `quietWindows` 10 s windows below this one (hysteresis). */
  readonly closeThreshold: number;
  readonly quietWindows: number;
  /** A detector counts as having fired (for policy `detector:` filters) at this score. */
  readonly firedThreshold: number;
  /** Windows of own history before a client stops leaning on its tier's population. */
  readonly minHistory10s: number;
  readonly minHistory60s: number;
  /** Robust ring lengths (windows) and EWMA weights per window size. */
  readonly ring10s: number;
  readonly ring60s: number;
  readonly ewmaAlpha10s: number;
  readonly ewmaAlpha60s: number;
  /** Statistical detector: score 0 up to z0, then 1 - exp(-(z - z0) / zScale). */
  readonly z0: number;
  readonly zScale: number;
  /** Fusion weights (noisy-OR): how far one detector alone can push the fused score. */
  readonly weights: Readonly<Record<'rules' | 'statistical' | 'series' | 'autoencoder', number>>;
  readonly rules10s: RuleThresholds;
  readonly rules60s: RuleThresholds;
  readonly lowAndSlow: LowAndSlowThresholds;
  /** Service-wide request-rate series: reports (observe only) at this series score. */
  readonly serviceThreshold: number;
  /** Minutes of client history before hour-of-week seasonality is learned, and samples per bucket before it is used. */
  readonly seasonalAfterMinutes: number;
  readonly seasonalMinSamples: number;
  /** Recent windows kept per client for the operator API. */
  readonly recentWindows: number;
}

export const DEFAULT_DETECTION: DetectionOptions = {
  latenessMs: 2_000,
  idleMs: 2_000,
  scoreSlice: 2_000,
  openThreshold: 0.5,
  closeThreshold: 0.3,
  quietWindows: 3,
  firedThreshold: 0.5,
  minHistory10s: 30,
  minHistory60s: 10,
  ring10s: 30,
  ring60s: 30,
  ewmaAlpha10s: 0.02,
  ewmaAlpha60s: 0.05,
  z0: 4,
  zScale: 4,
  weights: { rules: 1, statistical: 0.85, series: 0.45, autoencoder: 0.45 },
  rules10s: {
    minAuthFailures: 10,
    minAuthFailureRatio: 0.5,
    minDistinctRoutes: 30,
    minNewRouteShare: 0.5,
    minRequests: 200,
    volumeFactor: 6,
    minDistinctIps: 8,
  },
  rules60s: {
    minAuthFailures: 20,
    minAuthFailureRatio: 0.5,
    minDistinctRoutes: 100,
    minNewRouteShare: 0.5,
    minRequests: 900,
    volumeFactor: 6,
    minDistinctIps: 12,
  },
  lowAndSlow: { span: 10, minElevated: 8, factor: 1.5, minRequests: 10, minAuthFailures: 3, minNewRoutes: 5, alpha: 0.01 },
  serviceThreshold: 0.9,
  seasonalAfterMinutes: 60,
  seasonalMinSamples: 20,
  recentWindows: 30,
};

export function detectionOptions(overrides: Partial<DetectionOptions> = {}): DetectionOptions {
  return { ...DEFAULT_DETECTION, ...overrides };
}
