/**
 * Detector 3: abuse rules. Each is an explicit, explainable threshold relative to the client's
 * baseline (and an absolute floor, so a quiet client is not flagged for ten requests):
 *
 * - credential_stuffing — many 401/403 answers: count ≥ max(floor, 5 × baseline count) and
 *   share ≥ max(minRatio, baseline share + 0.3).
 * - scraping — many distinct routes, mostly never requested before: distinct ≥ max(floor,
 *   4 × baseline + 3) and new-route share ≥ minNewRouteShare (without route history: twice the
 *   distinct threshold); or enumeration: ≥ minSequential ids walked in order, ≥ their share.
 * - volumetric — requests ≥ max(floor, volumeFactor × seasonal baseline).
 * - key_sharing — one API key or user from many IPs: distinct IPs over the last ten minutes
 *   ≥ max(minIps, factor × the client's usual ten-minute count + margin); or, as it starts, several
 *   distinct never-seen devices (new IP with a new user agent) within a couple of minutes on an
 *   established key (keySharingBurst).
 * - compromised_key — an established key used, over ten minutes, by strangers: requests from an IP
 *   and a user agent both new to the key (≥ minRequests, from ≥ minNewIps such new IPs), while its owner
 *   may go on using it as before.
 * - low_and_slow — over the last `span` minutes: sustained auth failures or sustained enumeration
 *   at a rate too low for the per-window rules. (A sustained rise in plain volume is the
 *   statistical detector's job on 60 s windows against the hour-of-week baseline: a slow baseline
 *   without seasonality would take every morning ramp for abuse.)
 * Rules comparing with a baseline (scraping, volumetric, key sharing) stay silent while there is
 * none (a client seen for the first time when the analyzer has no population yet).
 *
 * A rule's score is 0.75 at its threshold and rises towards 1 with the margin
 * (1 − 0.25 · (value/threshold)^−1.3: 0.90 at 2×, 0.96 at 4×).
 */
import { F, featureLabel } from '../../models/features.js';
import type { Expectation } from '../baselines/expectation.js';
import type { CompromisedKeyThresholds, KeySharingThresholds, LowAndSlowThresholds, RuleThresholds } from '../options.js';
import { fmt } from '../format.js';

export const RULE_NAMES = ['credential_stuffing', 'scraping', 'volumetric', 'key_sharing', 'compromised_key', 'low_and_slow'] as const;
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

/** A rule's hit at `margin` × its threshold (score by ruleScore, at most `cap`). */
function ruleHit(rule: RuleName, margin: number, feature: string, observed: number, baseline: number, text: string, cap = 1): RuleHit {
  return { rule, score: ruleScore(margin, cap), feature, observed, baseline, margin, text };
}

function windowLabel(sizeMs: number): string {
  return sizeMs >= 60_000 ? `${sizeMs / 60_000}m` : `${sizeMs / 1000}s`;
}

function orZero(x: number): number {
  return Number.isNaN(x) ? 0 : x;
}

/** Whether the key names an API key or a user (key sharing only means something there). */
export function isCredentialKey(client: string): boolean {
  return /(^|\|)(apiKey|user):/.test(client) && !/(^|\|)ip:/.test(client);
}

export function evaluateRules(raw: ArrayLike<number>, exp: Expectation, t: RuleThresholds, sizeMs: number, youngVolumeFactor = t.volumeFactor): RuleHit[] {
  const hits: RuleHit[] = [];
  const window = windowLabel(sizeMs);
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
    hits.push(ruleHit('credential_stuffing', margin, featureLabel(F.ratio401403, sizeMs), authRatio, baseRatio, `credential stuffing: ${Math.round(failures)} of ${requests} requests answered 401/403 in ${window} (share ${fmt(authRatio)} vs ${fmt(baseRatio)} normal)`));
  }

  const known = exp.source !== 'none';

  // scraping / enumeration
  const distinct = raw[F.distinctRoutes]!;
  const baseDistinct = orZero(exp.ceiling[F.distinctRoutes]!);
  const newShare = raw[F.newRouteShare]!;
  const seqShare = raw[F.sequentialIdShare]!;
  const sequential = seqShare * requests;
  let distinctThreshold = Math.max(t.minDistinctRoutes, 4 * baseDistinct + 3);
  if (Number.isNaN(newShare)) distinctThreshold *= 2;
  const wide = known && distinct >= distinctThreshold && (Number.isNaN(newShare) || newShare >= t.minNewRouteShare);
  const walking = sequential >= t.minSequential && seqShare >= t.minSequentialShare;
  if (wide || walking) {
    const margin = Math.max(wide ? distinct / distinctThreshold : 0, walking ? sequential / t.minSequential : 0);
    const share = Number.isNaN(newShare) ? '' : `, ${Math.round(newShare * 100)}% never requested before`;
    const walk = walking ? `, ${Math.round(sequential)} ids walked in order` : '';
    hits.push(ruleHit('scraping', margin, walking && !wide ? featureLabel(F.sequentialIdShare, sizeMs) : featureLabel(F.distinctRoutes, sizeMs), walking && !wide ? seqShare : distinct, walking && !wide ? orZero(exp.raw[F.sequentialIdShare]!) : baseDistinct, `scraping/enumeration: ${distinct} distinct routes in ${window} (normal ${fmt(baseDistinct)})${share}${walk}`));
  }

  if (known) {
    const burst = volumetric(requests, exp, t, sizeMs, youngVolumeFactor);
    if (burst) hits.push(burst);
  }
  return hits;
}

/**
 * Volumetric burst: `requests` in a window of `sizeMs` against the client's ceiling, not its mean
 * (a young client may be one of its tier's big ones): volumeFactor × it against its own history,
 * youngVolumeFactor × its peers' busiest while it is young, never below minRequests. Only a count,
 * which can only grow while the window is open: a window that reaches the threshold before it
 * closes also reaches it when it closes (the analyzer's open-window look relies on this).
 */
export function volumetric(requests: number, exp: Expectation, t: RuleThresholds, sizeMs: number, youngVolumeFactor = t.volumeFactor): RuleHit | null {
  const window = windowLabel(sizeMs);
  const ceilingRequests = orZero(exp.ceiling[F.requests]!);
  const factor = exp.clientWeight * t.volumeFactor + (1 - exp.clientWeight) * youngVolumeFactor;
  const volumeThreshold = Math.max(t.minRequests, factor * ceilingRequests);
  if (requests < volumeThreshold) return null;
  return ruleHit('volumetric', requests / volumeThreshold, featureLabel(F.requests, sizeMs), requests, ceilingRequests, `volumetric burst: ${requests} requests in ${window}, ${fmt(requests / Math.max(1, ceilingRequests))}× ${exp.source === 'client' ? 'the normal' : 'what its peers reach,'} ${fmt(ceilingRequests)}`);
}

/**
 * Key sharing over a horizon: `ips` distinct addresses used the key in the last
 * `horizonMinutes`; `usual` is the client's usual count over such a horizon (0 when unknown).
 */
export function keySharing(ips: number, usual: number, t: KeySharingThresholds): RuleHit | null {
  const threshold = Math.max(t.minIps, t.factor * usual + t.margin);
  if (ips < threshold) return null;
  const margin = ips / threshold;
  return ruleHit('key_sharing', margin, `distinct_ips_${t.horizonMinutes}m`, ips, usual, `key sharing: one key used from ${ips} IPs in the last ${t.horizonMinutes} minutes (usually ${fmt(usual)})`);
}

/**
 * Key sharing as it starts, before its distinct-IP count has grown: `devices` requests in the last
 * `burstMinutes` that each brought an IP and a user agent the key never showed (and that no other
 * of them brought: distinct new devices in distinct new places), on an established key whose usual
 * ten-minute IP count `usual` is known; `before` such requests in the rest of the last ten minutes.
 *
 * Why this means sharing: the owner of a key adds a device now and then (one new IP with one new
 * agent); a browser update is a new agent on a known address, a phone changing networks a new
 * address with a known agent, a fleet rolled out on new hosts one new agent on many addresses —
 * none of them is several distinct new devices in distinct new places within a minute or two,
 * while that is what the first requests of a key handed around look like (each sharer its own
 * device and network). Threshold: max(burstDevices, factor × usual × burstMinutes / horizonMinutes)
 * + before — new devices arriving at least at the pace the ten-minute rule calls sharing, counting
 * only never-seen ones (a key that normally shows many addresses needs more), and the more new
 * devices the key met just before, the more it takes: the rule is about a sudden start, and a key
 * that meets new devices all the time (one embedded in a public app) must jump against its own pace.
 * It reads the same tables as compromised_key (recentIps.ts), plus a ten-minute ring of counts.
 */
export function keySharingBurst(devices: number, before: number, usual: number, t: KeySharingThresholds): RuleHit | null {
  const threshold = Math.max(t.burstDevices, (t.factor * usual * t.burstMinutes) / t.horizonMinutes) + before;
  if (!(devices >= threshold)) return null;
  const margin = devices / threshold;
  return ruleHit('key_sharing', margin, `new_devices_${t.burstMinutes}m`, devices, before, `key sharing: ${devices} new devices (an IP and a user agent this key never used) in the last ${t.burstMinutes} minutes${before > 0 ? ` (${before} in the ${t.horizonMinutes - t.burstMinutes} minutes before)` : ''}, on a key usually seen from ${fmt(usual)} IPs in ${t.horizonMinutes} minutes`);
}

/**
 * Compromised key: `strangers` requests in ten minutes from new IP + new agent pairs, coming from
 * `newIps` addresses that such a request brought (KeyIdentities.strangerAddresses).
 */
export function compromisedKey(strangers: number, newIps: number, t: CompromisedKeyThresholds): RuleHit | null {
  if (strangers < t.minRequests || newIps < t.minNewIps) return null;
  const margin = strangers / t.minRequests;
  return ruleHit('compromised_key', margin, 'ua_changes_10m', strangers, 0, `compromised key: ${strangers} requests in the last 10 minutes from ${newIps} new IPs with a user agent this key never used before`);
}

/**
 * Per-client memory of the low-and-slow rule: the last `span` minutes' requests, auth failures and
 * ids walked in order. A minute without a window (the client sent nothing) counts as a minute of
 * zeros, so the span is minutes of time, not of activity: three failures an hour are not "30 over
 * the last 10 minutes" ten hours later. 40 + 12 × span bytes.
 */
export class LowAndSlowState {
  private readonly ring: Float32Array;
  private pos = 0;
  private filled = 0;
  /**
   * The minute (epoch ms / 60 000) of the last window fed, −1 when unknown (not in state snapshots:
   * a restored client sets it from its last event).
   */
  lastMinute = -1;

  constructor(readonly span: number) {
    this.ring = new Float32Array(3 * span);
  }

  /** Feeds the closed 60 s window of `minute`; returns a hit when abuse has been sustained over the span. */
  update(raw: ArrayLike<number>, t: LowAndSlowThresholds, minute?: number): RuleHit | null {
    if (minute !== undefined) {
      // the minutes the client was silent in, since the last window fed
      if (this.lastMinute >= 0) for (let m = this.lastMinute + 1; m < minute && m < this.lastMinute + 1 + this.span; m++) this.push(0, 0, 0);
      if (minute > this.lastMinute) this.lastMinute = minute;
    }
    const requests = raw[F.requests]!;
    this.push(requests, raw[F.ratio401403]! * requests, raw[F.sequentialIdShare]! * requests);
    let sumRequests = 0;
    let sumFailures = 0;
    let sumSequential = 0;
    for (let i = 0; i < this.filled; i++) {
      sumRequests += this.ring[i * 3]!;
      sumFailures += this.ring[i * 3 + 1]!;
      sumSequential += this.ring[i * 3 + 2]!;
    }
    const minutes = this.filled;
    let best: RuleHit | null = null;
    if (sumFailures >= t.minAuthFailures && sumFailures >= t.minShare * sumRequests) {
      const margin = sumFailures / t.minAuthFailures;
      best = ruleHit('low_and_slow', margin, featureLabel(F.ratio401403, 60_000), round(sumFailures / Math.max(1, sumRequests)), 0, `low and slow: ${Math.round(sumFailures)} of ${Math.round(sumRequests)} requests answered 401/403 over the last ${minutes} minutes`, 0.85);
    }
    if (sumSequential >= t.minSequential && sumSequential >= t.minShare * sumRequests) {
      const margin = sumSequential / t.minSequential;
      const walked = ruleHit('low_and_slow', margin, featureLabel(F.sequentialIdShare, 60_000), round(sumSequential / Math.max(1, sumRequests)), 0, `low and slow: ${Math.round(sumSequential)} of ${Math.round(sumRequests)} requests walked ids in order over the last ${minutes} minutes`, 0.85);
      if (!best || walked.score > best.score) best = walked;
    }
    return best;
  }

  private push(requests: number, failures: number, sequential: number): void {
    const base = this.pos * 3;
    this.ring[base] = requests;
    this.ring[base + 1] = failures;
    this.ring[base + 2] = sequential;
    this.pos = (this.pos + 1) % this.span;
    if (this.filled < this.span) this.filled++;
  }

  get bytes(): number {
    return 40 + this.ring.byteLength;
  }

  /** The filled minutes, oldest first, three numbers each (state snapshots). */
  exportState(): Float32Array {
    const out = new Float32Array(this.filled * 3);
    for (let k = 0; k < this.filled; k++) {
      const slot = (this.pos - this.filled + k + this.span) % this.span;
      out.set(this.ring.subarray(slot * 3, slot * 3 + 3), k * 3);
    }
    return out;
  }

  importState(rows: Float32Array): void {
    if (rows.length % 3 !== 0 || rows.length > this.ring.length) throw new Error('low-and-slow state has another shape');
    this.ring.fill(0).set(rows);
    this.filled = rows.length / 3;
    this.pos = this.filled % this.span;
  }
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
