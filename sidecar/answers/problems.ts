/**
 * The bodies the sidecar answers itself, as RFC 9457 problem details (`application/problem+json`).
 * Shapes are the contract of DESIGN.md: 429 quota-exceeded, 403 abnormal-usage-detected; the
 * others (400, 401, 408, 413, 502, 503, 504) follow the same pattern with a stable `error` code.
 */
import { MAX_EPOCH_MS } from '../../models/control.js';
import type { RuleOutcome, Verdict } from '../engine/types.js';
import { headerInt, retryAfterSeconds } from './rateLimitHeaders.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const QUOTA_EXCEEDED = 'https://iana.org/assignments/http-problem-types#quota-exceeded';
export const ABNORMAL_USAGE = 'https://iana.org/assignments/http-problem-types#abnormal-usage-detected';

export interface Problem {
  readonly status: number;
  readonly body: string;
  /** Seconds for a Retry-After header, when the answer has one. */
  readonly retryAfter: number | null;
}

/** The rejecting outcome a 429 reports: the verdict's rule, else the first non-shadow rejection, else the headline. */
export function rejectingOutcome(verdict: Verdict): RuleOutcome | null {
  let first: RuleOutcome | null = null;
  for (const o of verdict.outcomes) {
    if (o.allowed || o.shadow) continue;
    if (o.ruleId === verdict.rule) return o;
    first ??= o;
  }
  return first ?? verdict.headline;
}

export function rateLimited(verdict: Verdict): Problem {
  const outcome = rejectingOutcome(verdict);
  const violated: string[] = [];
  for (const o of verdict.outcomes) if (!o.allowed && !o.shadow) violated.push(o.ruleId);
  const rule = verdict.rule ?? outcome?.ruleId ?? null;
  if (violated.length === 0 && rule !== null) violated.push(rule);
  // the engine's retryAfterMs already covers every rejecting rule; never earlier than the outcome's t
  let retryAfter = outcome ? retryAfterSeconds(outcome) : 1;
  if (verdict.retryAfterMs !== undefined) retryAfter = Math.max(retryAfter, headerInt(Math.ceil(verdict.retryAfterMs / 1000), 1));
  // the same integer as X-RateLimit-Limit: finite, ≤ 15 digits (the body must stay valid JSON)
  const limit = outcome ? headerInt(Math.floor(outcome.limit)) : 0;
  const body =
    `{"type":"${QUOTA_EXCEEDED}","title":"Too Many Requests","status":429,` +
    `"detail":${JSON.stringify(rule !== null ? `rate limit of rule "${rule}" exceeded; retry after ${retryAfter} s` : `rate limit exceeded; retry after ${retryAfter} s`)},` +
    `"violated-policies":${JSON.stringify(violated)},"error":"rate_limited","rule":${JSON.stringify(rule)},"limit":${limit},"retryAfter":${retryAfter}}`;
  return { status: 429, body, retryAfter };
}

export function blocked(block: { until: number; reason: string; anomalyId?: string }, nowMs: number): Problem {
  // the control-plane decoder refuses an until past the last Date (MAX_EPOCH_MS); this answer is on the
  // request path, so it never relies on that: a throw here was an unhandled rejection that ended the process
  const until = Math.min(block.until >= nowMs ? block.until : nowMs, MAX_EPOCH_MS);
  const retryAfter = Math.max(1, Math.ceil((until - nowMs) / 1000));
  const body =
    `{"type":"${ABNORMAL_USAGE}","title":"Forbidden","status":403,"detail":"requests from this client are blocked until ${new Date(until).toISOString()}",` +
    `"error":"blocked","reason":${JSON.stringify(block.reason)},"until":${until},"retryAfter":${retryAfter}` +
    (block.anomalyId !== undefined ? `,"anomalyId":${JSON.stringify(block.anomalyId)}` : '') +
    '}';
  return { status: 403, body, retryAfter };
}

function simple(status: number, title: string, error: string, detail: string, retryAfter: number | null = null): Problem {
  return { status, body: `{"type":"about:blank","title":"${title}","status":${status},"error":"${error}","detail":${JSON.stringify(detail)}}`, retryAfter };
}

export function badRequest(detail: string): Problem {
  return simple(400, 'Bad Request', 'bad_request', detail);
}

/** 413: a body the sidecar must read (to price a GraphQL request) is over its bound. */
export function payloadTooLarge(detail: string): Problem {
  return simple(413, 'Content Too Large', 'payload_too_large', detail);
}

/** 408: a body the sidecar must read (to price a GraphQL request) did not arrive in full in time. */
export function requestTimeout(detail: string): Problem {
  return simple(408, 'Request Timeout', 'request_timeout', detail);
}

/** 503: the bodies the sidecar holds for pricing already take all it allows; retry shortly. */
export function bodiesBufferFull(detail: string): Problem {
  return simple(503, 'Service Unavailable', 'body_buffer_full', detail, 1);
}

/** 501: a request transfer coding other than chunked (RFC 9112 §6.1), never forwarded. */
export function notImplemented(detail: string): Problem {
  return simple(501, 'Not Implemented', 'not_implemented', detail);
}

export function invalidToken(): Problem {
  return simple(401, 'Unauthorized', 'invalid_token', 'the bearer token is invalid, expired or not signed by a trusted key');
}

export function storeUnavailable(detail = 'the rate-limit store is unavailable and the policy fails closed'): Problem {
  return simple(503, 'Service Unavailable', 'store_unavailable', detail, 1);
}

export function badGateway(detail = 'the upstream could not be reached'): Problem {
  return simple(502, 'Bad Gateway', 'upstream_unavailable', detail);
}

export function gatewayTimeout(detail = 'the upstream did not answer in time'): Problem {
  return simple(504, 'Gateway Timeout', 'upstream_timeout', detail);
}

export function draining(): Problem {
  return simple(503, 'Service Unavailable', 'shutting_down', 'the sidecar is shutting down', 1);
}
