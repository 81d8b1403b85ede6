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
  /** Enumeration: ids walked in order in the window at least this many, and this share of requests. */
  readonly minSequential: number;
  readonly minSequentialShare: number;
}

export interface KeySharingThresholds {
  /** Distinct IPs behind one API key / user over this many minutes … */
  readonly horizonMinutes: number;
  /** … at least this many, and at least factor × the client's usual count + margin. */
  readonly minIps: number;
  readonly factor: number;
  readonly margin: number;
  /**
   * Or, on an established key whose usual count is known, new devices in new places (requests each
   * bringing an IP and a user agent the key never showed) within burstMinutes (< horizonMinutes ≤ 10):
   * at least max(burstDevices, factor × usual × burstMinutes / horizonMinutes) + those of the
   * horizon's earlier minutes (rules.ts keySharingBurst).
   */
  readonly burstMinutes: number;
  readonly burstDevices: number;
}

export interface CompromisedKeyThresholds {
  /** Requests over ten minutes from strangers (a new IP with a new user agent) on an established key … */
  readonly minRequests: number;
  /**
   * … from at least this many new IPs that a new user agent came from (an owner's new device brings
   * one; the owner's known device roaming to a new network brings none).
   */
  readonly minNewIps: number;
}

export interface LowAndSlowThresholds {
  /** Horizon of the rule, in minutes (one 60 s window each; a minute the client sent nothing in counts as zeros). */
  readonly span: number;
  /** Sustained auth failures: at least this many 401/403 over the span, at least minShare of requests. */
  readonly minAuthFailures: number;
  /** Sustained enumeration: at least this many ids walked in order over the span, at least minShare of requests. */
  readonly minSequential: number;
  readonly minShare: number;
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
  /** … and its episode ends once no window scored this much for `quietMs` (hysteresis). */
  readonly closeThreshold: number;
  readonly quietMs: number;
  /**
   * Event time after this analyzer's first event during which windows are learned but no report
   * opens: at start-up every client is new and the population is empty.
   */
  readonly warmupMs: number;
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
  readonly keySharing: KeySharingThresholds;
  readonly compromisedKey: CompromisedKeyThresholds;
  /** Volumetric factor against the tier's busiest members (99th percentile) while a client is young. */
  readonly youngVolumeFactor: number;
  readonly lowAndSlow: LowAndSlowThresholds;
  /** Service-wide request-rate series: reports (observe only) at this series score. */
  readonly serviceThreshold: number;
  /** Minutes of client history before hour-of-week seasonality is learned, and samples per bucket before it is used. */
  readonly seasonalAfterMinutes: number;
  readonly seasonalMinSamples: number;
  /** Recent windows kept per client for the operator API. */
  readonly recentWindows: number;
  /**
   * Early look at the open minute: once its 10 s windows cover this much (and until the minute
   * closes), every closed 10 s window also scores the minute so far as a 60 s window, so sustained
   * evidence (failed logins, ids walked in order) acts without waiting for the minute to end. Only
   * features that a shorter span cannot inflate are read; it opens or raises reports, never
   * learns. 0 turns it off.
   */
  readonly earlyLookMs: number;
  /**
   * Open-window looks: a client whose open 10 s window already holds rules10s.minRequests is
   * checked for a volumetric burst on every tick instead of when the window closes (+ the
   * lateness), and a credential that met a new address or a stranger has its identity rules (key
   * sharing, compromised key) read at the next tick. Both read evidence the closed window can only
   * exceed; they open or raise reports, never learn.
   */
  readonly openWindowLook: boolean;
  /**
   * Early-look watch: an early look that fuses at least this (but below openThreshold) keeps the
   * client watched until its minute closes; on every tick that brought it new events, the minute
   * so far (its closed 10 s windows plus the open ones) is looked at again, so the call that
   * completes the evidence acts within a tick instead of when its 10 s window closes (+ the
   * lateness). Same reading as the early look: opens or raises reports, never learns. 0 turns it
   * off.
   */
  readonly earlyWatchScore: number;
}

export const DEFAULT_DETECTION: DetectionOptions = {
  latenessMs: 2_000,
  idleMs: 2_000,
  scoreSlice: 2_000,
  openThreshold: 0.5,
  closeThreshold: 0.3,
  quietMs: 120_000,
  warmupMs: 10 * 60_000,
  firedThreshold: 0.5,
  minHistory10s: 30,
  minHistory60s: 10,
  ring10s: 20,
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
    minSequential: 10,
    minSequentialShare: 0.5,
  },
  rules60s: {
    minAuthFailures: 20,
    minAuthFailureRatio: 0.5,
    minDistinctRoutes: 100,
    minNewRouteShare: 0.5,
    minRequests: 900,
    volumeFactor: 6,
    minSequential: 30,
    minSequentialShare: 0.5,
  },
  keySharing: { horizonMinutes: 10, minIps: 16, factor: 2, margin: 6, burstMinutes: 2, burstDevices: 3 },
  compromisedKey: { minRequests: 2, minNewIps: 2 },
  youngVolumeFactor: 2,
  lowAndSlow: { span: 10, minAuthFailures: 30, minSequential: 20, minShare: 0.5 },
  serviceThreshold: 0.9,
  seasonalAfterMinutes: 60,
  seasonalMinSamples: 20,
  recentWindows: 12,
  earlyLookMs: 20_000,
  openWindowLook: true,
  earlyWatchScore: 0.3,
};

export function detectionOptions(overrides: Partial<DetectionOptions> = {}): DetectionOptions {
  return { ...DEFAULT_DETECTION, ...overrides };
}
