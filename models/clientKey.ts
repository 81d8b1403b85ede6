import { createHash, createHmac } from 'node:crypto';

/**
 * Client keys on the wire: `<part>:<value>` joined by `|` (`apiKey:9f86d081884c7d65|ip:10.1.2.3`).
 * Secrets (API keys, tokens) only ever appear as a 16-hex-digit digest: SHA-256, or
 * HMAC-SHA-256 keyed by RW_HASH_KEY when it is set (recommended: a plain SHA-256 of a short key
 * can be brute-forced).
 */
export const SECRET_ID_HEX = 16;

/** The longest API key a sidecar reads: a longer value is no key anyone issues (not hashed, no key). */
export const MAX_API_KEY_LENGTH = 512;

/**
 * An API key as a sidecar reads it from a request — trimmed, not blank, at most MAX_API_KEY_LENGTH —
 * or why the sidecar would take it for no key: for whatever names a key outside a request (the
 * policy's clients and allowlist, `key-id`, `blocks add --api-key`), so it names one a request can carry.
 */
export function apiKeyAsRead(raw: string): { readonly key: string } | { readonly problem: string } {
  const key = raw.trim();
  if (key === '') return { problem: 'the API key is blank (a sidecar reads a blank key as none)' };
  if (key.length > MAX_API_KEY_LENGTH) return { problem: `the API key is ${key.length} characters; a sidecar reads one over ${MAX_API_KEY_LENGTH} as no key` };
  return { key };
}

export interface SecretHasher {
  (secret: string): string;
}

export function secretHasher(hashKey: string | undefined = process.env.RW_HASH_KEY): SecretHasher {
  if (hashKey) return (secret) => createHmac('sha256', hashKey).update(secret).digest('hex').slice(0, SECRET_ID_HEX);
  return (secret) => createHash('sha256').update(secret).digest('hex').slice(0, SECRET_ID_HEX);
}

/** The form of an API key that may leave the sidecar. */
export function apiKeyId(key: string, hashKey: string | undefined = process.env.RW_HASH_KEY): string {
  return secretHasher(hashKey)(key);
}

export function isSecretId(text: string): boolean {
  return text.length === SECRET_ID_HEX && /^[0-9a-f]+$/.test(text);
}

/**
 * Characters that would make a client key ambiguous or unsafe in logs, terminals, UIs and headers:
 * `%` (the escape), `|`, `"`, `\\`, white space, C0 and C1 controls (a C1 byte is a terminal
 * escape for some terminals), and the bidirectional overrides that reorder what a reader sees.
 */
const UNSAFE = /[%|\s\u0000-\u001f\u007f-\u009f"\\\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Escapes a part value so keys stay unambiguous: `|`, whitespace, control characters, quotes, and
 * `%` itself (so `a|b` and a literal `a%7cb` stay two keys). A value longer than `maxLength` once
 * escaped keeps its first characters and ends in `~` and 16 hex digits of its SHA-256: two long
 * values that share a prefix stay two keys, and no key part is longer than `maxLength`.
 */
export function sanitizeKeyValue(value: string, maxLength = 256): string {
  // escaped first, so the bound holds for what is written (escaping can make a value six times longer)
  // %xx below U+0100, %uxxxx above: fixed widths, so no escape reads as another one followed by text
  const escaped = value.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? '%' + code.toString(16).padStart(2, '0') : '%u' + code.toString(16).padStart(4, '0');
  });
  if (escaped.length <= maxLength) return escaped;
  const cut = escaped.slice(0, maxLength - SECRET_ID_HEX - 1) + '~' + createHash('sha256').update(value).digest('hex').slice(0, SECRET_ID_HEX);
  // V8 keeps a slice as a view of the whole string: flattened, the cut is a copy of its own, not a
  // holder of the whole value — a cached JWT `user` kept its 6 KB claim alive (jwtUserMemory.test.ts)
  return flatString(cut);
}

/** Where flatString's conversions go: a conversion whose result is unused is dropped by the optimiser. */
let flattened = 0;

/**
 * `s` flattened: a concatenation of slices becomes one string of its own, so it no longer keeps the
 * strings it was cut from alive. V8 flattens a string converted to a number (pino's `flatstr`); the
 * result must be used (kept in `flattened`), or optimised code drops the conversion, and the
 * flattening with it, as it did here.
 */
export function flatString(s: string): string {
  flattened ^= (s as unknown as number) | 0;
  return s;
}

export function formatClientKey(parts: ReadonlyArray<readonly [string, string]>): string {
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const [name, value] = parts[i]!;
    if (i > 0) out += '|';
    out += name + ':' + value;
  }
  return out;
}

export function parseClientKey(key: string): Array<[string, string]> | null {
  if (key.length === 0) return null;
  const parts: Array<[string, string]> = [];
  for (const piece of key.split('|')) {
    const colon = piece.indexOf(':');
    if (colon <= 0) return null;
    parts.push([piece.slice(0, colon), piece.slice(colon + 1)]);
  }
  return parts;
}
