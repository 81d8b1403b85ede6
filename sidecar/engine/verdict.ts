import type { Decision } from '../../models/events.js';
import { QUEUE, REJECT } from './algorithms/index.js';
import type { Check } from './check.js';
import { scaledDemand } from './stores/memoryStore.js';
import type { RuleOutcome, Verdict, VerdictKind } from './types.js';

/**
 * Verdicts from decided checks. The headline (what X-RateLimit-* and RateLimit report) is the most
 * constraining non-shadow outcome: among rejecting rules the one with the longest retry (so
 * Retry-After covers every rejecting rule), else the one with the fewest units left (ties: the later
 * reset). A rejected outcome's resetMs equals its retryAfterMs, so Retry-After is never earlier
 * than the reset the headers promise.
 */

/** Header form of a rule's limit: buckets report their capacity over the time it takes to refill. */
function outcomeOf(c: Check): RuleOutcome {
  const rule = c.rule;
  let limit = c.limit;
  let burst = c.burst;
  if (c.divisor !== 1) {
    const local = scaledDemand(c, c.divisor);
    limit = local.limit;
    burst = local.burst;
  }
  let windowMs = c.windowMs;
  if (rule.isBucket) {
    windowMs = limit > 0 ? Math.max(1, Math.round((burst * c.windowMs) / limit)) : c.windowMs;
    limit = burst;
  }
  const rejected = c.status === REJECT;
  return {
    ruleId: rule.id,
    allowed: !rejected,
    shadow: rule.shadow,
    limit: limit > 0 ? Math.floor(limit) : 0,
    remaining: c.remaining,
    windowMs,
    resetMs: c.resetMs,
    retryAfterMs: rejected ? c.waitMs : 0,
  };
}

function moreConstraining(a: RuleOutcome, b: RuleOutcome): boolean {
  if (a.allowed !== b.allowed) return !a.allowed;
  if (!a.allowed) return a.retryAfterMs > b.retryAfterMs;
  if (a.remaining !== b.remaining) return a.remaining < b.remaining;
  return a.resetMs > b.resetMs;
}

/** Builds a passing verdict's release and refund (the engine, which knows the stores). */
export interface Settler {
  releaser(checks: readonly Check[]): (() => void) | undefined;
  refunder(checks: readonly Check[]): (() => void) | undefined;
}

export function verdictFromChecks(checks: readonly Check[], cost: number, settler: Settler | null): Verdict {
  const outcomes: RuleOutcome[] = new Array(checks.length);
  let headline: RuleOutcome | null = null;
  let limited = false;
  let shadowLimited = false;
  let delayMs = 0;
  let queueRule: string | null = null;
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    const o = outcomeOf(c);
    outcomes[i] = o;
    if (c.rule.shadow) {
      if (c.status === REJECT) shadowLimited = true;
      continue;
    }
    if (c.status === REJECT) limited = true;
    else if (c.status === QUEUE && c.waitMs > delayMs) {
      delayMs = c.waitMs;
      queueRule = c.rule.id;
    }
    if (headline === null || moreConstraining(o, headline)) headline = o;
  }
  let kind: VerdictKind;
  let decision: Decision;
  let rule: string | null;
  if (limited) {
    kind = 'limit';
    decision = 'limited';
    rule = headline!.ruleId;
    delayMs = 0;
  } else if (queueRule !== null) {
    kind = 'queue';
    decision = 'queued';
    rule = queueRule;
  } else {
    kind = 'allow';
    decision = shadowLimited ? 'shadow_limited' : 'allowed';
    rule = headline !== null ? headline.ruleId : shadowLimited ? firstShadowRejection(checks) : outcomes.length > 0 ? outcomes[0]!.ruleId : null;
  }
  const verdict: {
    kind: VerdictKind;
    decision: Decision;
    rule: string | null;
    outcomes: RuleOutcome[];
    headline: RuleOutcome | null;
    delayMs: number;
    cost: number;
    retryAfterMs?: number;
    release?: () => void;
    refund?: () => void;
  } = { kind, decision, rule, outcomes, headline, delayMs, cost };
  if (limited) verdict.retryAfterMs = headline!.retryAfterMs;
  else if (settler !== null) {
    // a rejected request holds no lease and consumed nothing a refund could give back (countRejected counts it anyway)
    const release = settler.releaser(checks);
    if (release !== undefined) verdict.release = release;
    const refund = settler.refunder(checks);
    if (refund !== undefined) verdict.refund = refund;
  }
  return verdict;
}

/**
 * `v` with the shadow rules that could not measure the request (a GraphQL query too deep, too costly
 * or unparseable for them) reported as rejections: a shadow rule counts and reports, it never
 * refuses — so this is `shadow_limited` where the other rules allowed, never a 400.
 */
export function withShadowRefusals(v: Verdict, refused: readonly Check[]): Verdict {
  if (v.kind !== 'allow' && v.kind !== 'queue' && v.kind !== 'limit') return v; // 400 / 503: nothing to report into
  const outcomes = v.outcomes.concat(refused.map(outcomeOf));
  if (v.kind !== 'allow') return { ...v, outcomes };
  return { ...v, outcomes, decision: 'shadow_limited', rule: v.rule ?? refused[0]!.rule.id };
}

function firstShadowRejection(checks: readonly Check[]): string | null {
  for (const c of checks) if (c.status === REJECT) return c.rule.id;
  return null;
}

const NO_OUTCOMES: readonly RuleOutcome[] = Object.freeze([]);

/** No rule matched: forward, no headers. */
export const ALLOW_UNMATCHED: Verdict = Object.freeze({
  kind: 'allow',
  decision: 'allowed',
  rule: null,
  outcomes: NO_OUTCOMES,
  headline: null,
  delayMs: 0,
  cost: 0,
});

export function blockVerdict(block: { until: number; reason: string; anomalyId?: string }, now: number): Verdict {
  return {
    kind: 'block',
    decision: 'blocked',
    rule: null,
    outcomes: NO_OUTCOMES,
    headline: null,
    delayMs: 0,
    cost: 0,
    block: block.anomalyId !== undefined ? { until: block.until, reason: block.reason, anomalyId: block.anomalyId } : { until: block.until, reason: block.reason },
    retryAfterMs: Math.max(1_000, block.until - now),
  };
}

export function badRequestVerdict(rule: string, detail: string): Verdict {
  return { kind: 'bad-request', decision: 'limited', rule, outcomes: NO_OUTCOMES, headline: null, delayMs: 0, cost: 0, detail };
}

/** Store down with failMode closed: 503, retry after a short back-off. */
export const UNAVAILABLE_RETRY_MS = 1_000;
export function unavailableVerdict(checks: readonly Check[], cost: number): Verdict {
  return {
    kind: 'unavailable',
    decision: 'limited',
    rule: checks.length > 0 ? checks[0]!.rule.id : null,
    outcomes: NO_OUTCOMES,
    headline: null,
    delayMs: 0,
    cost,
    detail: 'the rate-limit store is unavailable (failMode: closed)',
    retryAfterMs: UNAVAILABLE_RETRY_MS,
  };
}
