/**
 * The answer to a request shed by the adaptive concurrency limit: 503 with Retry-After and a
 * problem+json body whose type is the "temporary reduced capacity" problem of
 * draft-ietf-httpapi-ratelimit-headers (the draft DESIGN.md takes its other types from), and
 * `"error":"overloaded"`. The engine never saw the request, so it costs the client no budget; the
 * event says `decision: limited` with rule `@adaptive-concurrency` (models/events.ts SHED_RULE, a
 * name no policy rule can have), so the analyzer's load watcher never mistakes a shed for an upstream
 * failure, and the client's features (models/features.ts) do not count it as limiting or as a 5xx.
 */
import { SHED_RULE } from '../../models/events.js';
import type { Problem } from '../answers/problems.js';
import type { Verdict } from '../engine/types.js';

export const TEMPORARY_REDUCED_CAPACITY = 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity';

/** Rule name in events and `requests_total{rule}` for shed requests (models/events.ts SHED_RULE). */
export const ADAPTIVE_RULE = SHED_RULE;

const RETRY_AFTER_S = 1;

const BODY =
  `{"type":"${TEMPORARY_REDUCED_CAPACITY}","title":"Service Unavailable","status":503,` +
  `"detail":"the upstream is at its concurrency limit; lower-priority requests are shed first","error":"overloaded","retryAfter":${RETRY_AFTER_S}}`;

const OVERLOADED: Problem = Object.freeze({ status: 503, body: BODY, retryAfter: RETRY_AFTER_S });

export function overloaded(): Problem {
  return OVERLOADED;
}

/** The verdict a shed request is recorded under (the engine was not asked). */
export const SHED_VERDICT: Verdict = Object.freeze({
  kind: 'unavailable',
  decision: 'limited',
  rule: ADAPTIVE_RULE,
  outcomes: Object.freeze([]) as Verdict['outcomes'],
  headline: null,
  delayMs: 0,
  cost: 0,
  retryAfterMs: RETRY_AFTER_S * 1000,
});
