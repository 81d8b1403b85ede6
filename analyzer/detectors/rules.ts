/**
 * Detector 3: abuse rules. Each is an explicit, explainable threshold relative to the client's
 * baseline (and an absolute floor, so a quiet client is not flagged for ten requests):
 *
 * - credential_stuffing — many 401/403 answers: count ≥ max(floor, 5 × baseline count) and
 *   share ≥ max(minRatio, baseline share + 0.3).
 * - scraping — many distinct routes, mostly never requested before: distinct ≥ max(floor,
 *   4 × baseline + 3) and new-route share ≥ minNewRouteShare (without route history: twice the
 *   distinct threshold).
 * - volumetric — requests ≥ max(floor, volumeFactor × seasonal baseline).
 * - key_sharing — one API key or user from many IPs: distinct IPs ≥ max(floor, 3 × baseline + 2).
 * - low_and_slow — on 60 s windows: requests, auth failures or new routes at ≥ factor × a slow
 *   (hours-long) baseline in ≥ minElevated of the last `span` minutes.
 *
 * A rule's score is 0.75 at its threshold and rises towards 1 with the margin
 * (1 − 0.25 · (value/threshold)^−1.3: 0.90 at 2×, 0.96 at 4×).
 */
import { F, featureLabel } from '../../models/features.js';
import type { Expectation } from '../baselines/expectation.js';
import type { LowAndSlowThresholds, RuleThresholds } from '../options.js';
import { fmt } from '../format.js';

export const RULE_NAMES = ['credential_stuffing', 'scraping', 'volumetric', 'key_sharing', 'low_and_slow'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

export interface RuleHit {
  readonly rule: RuleName;
  readonly score: number;
  readonly feature: string;
  readonly observed: number;
  readonly baseline: number;
  /** Multiple of the threshold reached (≥ 1). */
  readonly margin: number;
  readonly text: string;
}

export function ruleScore(margin: number, cap = 1): number {
  if (!(margin >= 1)) return 0;
  return Math.min(cap, 1 - 0.25 * margin ** -1.3);
}

function orZero(x: number): number {
  return Number.isNaN(x) ? 0 : x;
}

/** Whether the key names an API key or a user (key sharing only means something there). */
export function isCredentialKey(client: string): boolean {
  return /(^|\|)(apiKey|user):/.test(client) && !/(^|\|)ip:/.test(client);
}

export function evaluateRules(raw: ArrayLike<number>, exp: Expectation, t: RuleThresholds, sizeMs: number, client: string): RuleHit[] {
  const hits: RuleHit[] = [];
  const window = sizeMs >= 60_000 ? `${sizeMs / 60_000}m` : `${sizeMs / 1000}s`;
  const requests = raw[F.requests]!;
  const baseRequests = orZero(exp.raw[F.requests]!);

  // credential stuffing / brute force
  const authRatio = raw[F.ratio401403]!;
  const failures = authRatio * requests;
  const baseRatio = orZero(exp.raw[F.ratio401403]!);
  const baseFailures = baseRatio * baseRequests;
  const failureThreshold = Math.max(t.minAuthFailures, 5 * baseFailures);
  if (failures >= failureThreshold && authRatio >= Math.max(t.minAuthFailureRatio, baseRatio + 0.3)) {
    const margin = failures / failureThreshold;
    hits.push({
      rule: 'credential_stuffing',
      score: ruleScore(margin),
      feature: featureLabel(F.ratio401403, sizeMs),
      observed: authRatio,
      baseline: baseRatio,
      margin,
      text: `credential stuffing: ${Math.round(failures)} of ${requests} requests answered 401/403 in ${window} (share ${fmt(authRatio)} vs ${fmt(baseRatio)} normal)`,
    });
  }

  // scraping / enumeration
  const distinct = raw[F.distinctRoutes]!;
  const baseDistinct = orZero(exp.raw[F.distinctRoutes]!);
  const newShare = raw[F.newRouteShare]!;
  let distinctThreshold = Math.max(t.minDistinctRoutes, 4 * baseDistinct + 3);
  if (Number.isNaN(newShare)) distinctThreshold *= 2;
  if (distinct >= distinctThreshold && (Number.isNaN(newShare) || newShare >= t.minNewRouteShare)) {
    const margin = distinct / distinctThreshold;
    const share = Number.isNaN(newShare) ? '' : `, ${Math.round(newShare * 100)}% never requested before`;
    hits.push({
      rule: 'scraping',
      score: ruleScore(margin),
      feature: featureLabel(F.distinctRoutes, sizeMs),
      observed: distinct,
      baseline: baseDistinct,
      margin,
      text: `scraping/enumeration: ${distinct} distinct routes in ${window} (normal ${fmt(baseDistinct)})${share}`,
    });
  }

  // volumetric burst
  const volumeThreshold = Math.max(t.minRequests, t.volumeFactor * baseRequests);
  if (requests >= volumeThreshold) {
    const margin = requests / volumeThreshold;
    hits.push({
      rule: 'volumetric',
      score: ruleScore(margin),
      feature: featureLabel(F.requests, sizeMs),
      observed: requests,
      baseline: baseRequests,
      margin,
      text: `volumetric burst: ${requests} requests in ${window}, ${fmt(requests / Math.max(1, baseRequests))}× the normal ${fmt(baseRequests)}`,
    });
  }

  // key sharing
  if (isCredentialKey(client)) {
    const ips = raw[F.distinctIps]!;
    const baseIps = orZero(exp.raw[F.distinctIps]!);
    const ipThreshold = Math.max(t.minDistinctIps, 3 * baseIps + 2);
    if (ips >= ipThreshold) {
      const margin = ips / ipThreshold;
      hits.push({
        rule: 'key_sharing',
        score: ruleScore(margin),
        feature: featureLabel(F.distinctIps, sizeMs),
        observed: ips,
        baseline: baseIps,
        margin,
        text: `key sharing: one key used from ${ips} IPs in ${window} (normal ${fmt(baseIps)})`,
      });
    }
  }
  return hits;
}

const SIGNALS = ['requests', 'auth failures', 'new routes'] as const;

/**
 * Per-client memory of the low-and-slow rule: a slow EWMA per signal (log1p scale) and a bit per
 * recent minute saying whether it was elevated. While elevated, the slow baseline learns ten times
 * slower, so a sustained campaign does not become normal within the span. 40 bytes.
 */
export class LowAndSlowState {
  private readonly slow = new Float64Array(3);
  private readonly masks = new Uint16Array(3);
  private n = 0;

  /** Feeds one closed 60 s window; returns a hit when a signal has been elevated long enough. */
  update(raw: ArrayLike<number>, t: LowAndSlowThresholds): RuleHit | null {
    const requests = raw[F.requests]!;
    const values = [requests, raw[F.ratio401403]! * requests, orZero(raw[F.newRouteShare]!) * requests];
    const minimums = [t.minRequests, t.minAuthFailures, t.minNewRoutes];
    const spanMask = (1 << t.span) - 1;
    let best: RuleHit | null = null;
    for (let s = 0; s < 3; s++) {
      const logValue = Math.log1p(values[s]!);
      const base = Math.expm1(this.slow[s]!);
      const elevated = this.n >= t.span && values[s]! >= Math.max(minimums[s]!, t.factor * base + 2);
      this.masks[s] = ((this.masks[s]! << 1) | (elevated ? 1 : 0)) & spanMask;
      const alpha = elevated ? t.alpha / 10 : t.alpha;
      const a = this.n * alpha < 1 ? 1 / (this.n + 1) : alpha;
      this.slow[s] = this.n === 0 ? logValue : this.slow[s]! + a * (logValue - this.slow[s]!);
      const count = popcount(this.masks[s]!);
      if (elevated && count >= t.minElevated) {
        const margin = Math.max(1, values[s]! / Math.max(minimums[s]!, t.factor * base + 2));
        // sustained moderate elevation is weaker evidence than a burst: capped below the block range
        const score = ruleScore(margin * (count / t.minElevated), 0.85);
        if (!best || score > best.score) {
          best = {
            rule: 'low_and_slow',
            score,
            feature: s === 0 ? featureLabel(F.requests, 60_000) : s === 1 ? featureLabel(F.ratio401403, 60_000) : featureLabel(F.newRouteShare, 60_000),
            observed: values[s]!,
            baseline: base,
            margin,
            text: `low and slow: ${SIGNALS[s]} elevated in ${count} of the last ${t.span} minutes (${fmt(values[s]!)}/min vs ${fmt(base)} long-term)`,
          };
        }
      }
    }
    this.n++;
    return best;
  }

  static readonly bytes = 40;
}

function popcount(x: number): number {
  let c = 0;
  while (x) {
    x &= x - 1;
    c++;
  }
  return c;
}
