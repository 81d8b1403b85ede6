/**
 * The rate-limit response headers of DESIGN.md, for the most constraining rule (the verdict's
 * headline): `X-RateLimit-Limit/Remaining/Reset` (Reset in Unix epoch seconds) and the structured
 * fields of draft-ietf-httpapi-ratelimit-headers-10, `RateLimit-Policy: "per-key";q=100;w=60` and
 * `RateLimit: "per-key";r=42;t=17`. Always response headers, never trailers.
 *
 * Rounding is chosen so a client that obeys the headers is never early: remaining rounds down,
 * reset and retry-after round up, and Retry-After is at least 1 s and never earlier than `t`.
 */
import type { HeaderStyle } from '../../models/policy/index.js';
import type { RuleOutcome } from '../engine/types.js';

/** Flat `[name, value, name, value, …]` — the shape `ServerResponse.writeHead` takes as an array. */
export type HeaderList = string[];

export interface HeaderStyles {
  readonly x: boolean;
  readonly ietf: boolean;
}

export function headerStyles(styles: readonly HeaderStyle[]): HeaderStyles {
  return { x: styles.includes('x-ratelimit'), ietf: styles.includes('ietf') };
}

/** An sf-string (RFC 8941 §3.3.3): quotes and backslashes escaped, non-printable ASCII dropped. */
export function sfString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += '\\' + text[i];
    else if (c >= 0x20 && c < 0x7f) out += text[i];
  }
  return out + '"';
}

/** The largest sf-integer (RFC 8941 §3.3.1: at most 15 digits). */
export const MAX_SF_INTEGER = 999_999_999_999_999;

/**
 * An integer written into a header or an answer body: in [min, MAX_SF_INTEGER], never NaN or
 * Infinity. Limits × tier multipliers × overrides can exceed 15 digits, and `String(1e21)` is
 * `1e+21`, `String(Infinity)` is `Infinity`: neither is a valid header value or JSON number.
 */
export function headerInt(x: number, min = 0): number {
  return x >= min ? (x <= MAX_SF_INTEGER ? x : MAX_SF_INTEGER) : min;
}

/** Whole seconds until the budget resets (`t`), rounded up. */
export function resetSeconds(outcome: RuleOutcome): number {
  return headerInt(Math.ceil(outcome.resetMs / 1000));
}

/** Retry-After for a rejected outcome: whole seconds, ≥ 1, never earlier than the retry time nor than `t`. */
export function retryAfterSeconds(outcome: RuleOutcome): number {
  return Math.max(headerInt(Math.ceil(outcome.retryAfterMs / 1000), 1), resetSeconds(outcome));
}

/** Appends the headline's headers to `out`. `limited` forces remaining to 0 (429 answers). */
export function appendRateLimitHeaders(out: HeaderList, headline: RuleOutcome, styles: HeaderStyles, nowMs: number, limited: boolean): HeaderList {
  const limit = headerInt(Math.floor(headline.limit));
  const remaining = limited ? 0 : headerInt(Math.min(limit, Math.floor(headline.remaining)));
  const t = resetSeconds(headline);
  if (styles.x) {
    out.push('x-ratelimit-limit', String(limit), 'x-ratelimit-remaining', String(remaining), 'x-ratelimit-reset', String(headerInt(Math.ceil((nowMs + headline.resetMs) / 1000))));
  }
  if (styles.ietf) {
    const name = sfString(headline.ruleId);
    const w = headerInt(Math.ceil(headline.windowMs / 1000), 1);
    out.push('ratelimit-policy', `${name};q=${limit};w=${w}`, 'ratelimit', `${name};r=${remaining};t=${t}`);
  }
  return out;
}
