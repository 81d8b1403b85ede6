/**
 * Bearer-token authentication for the operator API. Two roles: `admin` (RW_ADMIN_TOKEN, read and
 * write) and `readonly` (RW_READONLY_TOKEN, optional, reads only). Tokens are compared in constant
 * time over SHA-256 digests, so neither the token's length nor its prefix leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'readonly';

export interface TokenConfig {
  readonly adminToken: string | null;
  readonly readonlyToken?: string | null;
}

export interface Authenticator {
  /** Whether the API is enabled at all (an admin token is configured). */
  readonly enabled: boolean;
  /** The role a presented token grants, or null. */
  roleOf(token: string | undefined): Role | null;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function createAuthenticator(config: TokenConfig): Authenticator {
  const admin = config.adminToken ? digest(config.adminToken) : null;
  // a read-only token equal to the admin token would be ambiguous; the admin role wins
  const readonly = config.readonlyToken ? digest(config.readonlyToken) : null;
  return {
    enabled: admin !== null,
    roleOf(token) {
      if (admin === null || !token) return null;
      const presented = digest(token);
      // both comparisons always run, so timing does not tell which role (if any) matched
      const isAdmin = timingSafeEqual(presented, admin);
      const isReadonly = readonly !== null && timingSafeEqual(presented, readonly);
      return isAdmin ? 'admin' : isReadonly ? 'readonly' : null;
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return m?.[1];
}

const OPERATOR_MAX = 64;

/**
 * Who an action is recorded as in a report's history: the role, or `<operator> (<role>)` when the
 * client names the person with `X-Operator`. The header is a label, not a credential (the token
 * decides what may be done); it is bounded to 64 characters of `[A-Za-z0-9._@+-]` (anything else
 * becomes `_`), so it can never inject control characters or markup into reports or logs.
 */
export function operatorName(role: Role, header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return role;
  const cleaned = raw
    .trim()
    .slice(0, OPERATOR_MAX)
    .replace(/[^A-Za-z0-9._@+-]/g, '_');
  if (cleaned.length === 0 || /^_+$/.test(cleaned)) return role;
  return `${cleaned} (${role})`;
}

/** A fresh random token (the demo generates one when RW_ADMIN_TOKEN is unset and prints a login URL). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The UI address that logs in with `token` once: the token travels in the URL fragment, which browsers never send to a server. */
export function loginUrl(base: string, token: string): string {
  return `${base.replace(/\/+$/, '')}/ui/#token=${encodeURIComponent(token)}`;
}
