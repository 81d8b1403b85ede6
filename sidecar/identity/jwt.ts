/**
 * `user` comes only from a JWT whose signature verifies (jose): an HS256/384/512 shared secret read from the
 * environment variable `secretEnv` (at least as long as the hash, RFC 7518 §3.2, else a start-up error), an RS256/ES256 (or PS, EdDSA) public key file (PEM, SPKI or X.509), or a
 * local JWKS file. The algorithm list is fixed by the policy, so `alg: none` and algorithm-confusion
 * tokens fail; expired tokens fail (with `clockTolerance`). A token that fails is never an identity:
 * it is counted by reason and, with `rejectInvalid`, answered 401.
 *
 * Verification results are cached per token (bounded LRU; a valid token until its `exp`, an invalid
 * one for a minute, or until its `nbf` when that comes sooner) so a caller presenting the same token costs one lookup, and a flood of bad tokens
 * costs one verification each.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, importSPKI, importX509, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTPayload, type JWTHeaderParameters, type CryptoKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { ErrorCodes, RatewardenError } from '../../models/errors.js';
import type { JwtIdentity } from '../../models/policy/index.js';
import { sanitizeKeyValue } from '../../models/clientKey.js';
import type { Clock } from '../engine/types.js';

export const INVALID_TOKEN_REASONS = ['expired', 'signature', 'algorithm', 'claims', 'malformed', 'no-claim', 'no-key'] as const;
export type InvalidTokenReason = (typeof INVALID_TOKEN_REASONS)[number];

export type TokenResult =
  | { readonly ok: true; readonly user: string; readonly tier: string | null }
  | { readonly ok: false; readonly reason: InvalidTokenReason };

interface Cached {
  readonly result: TokenResult;
  /** Epoch ms after which the cached result must not be used. */
  readonly validUntil: number;
}

const MAX_TOKEN_LENGTH = 8 * 1024;
/**
 * The shortest HMAC secret each algorithm accepts, in bytes: its hash's size (RFC 7518 §3.2). A
 * shorter one makes every token it signs open to an offline brute force of the secret.
 */
const MIN_HMAC_SECRET_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };
/**
 * The cache is bounded in bytes too: its keys are the tokens, and 10 000 distinct 8 KiB garbage
 * tokens would otherwise hold ~90 MiB for a minute (test/e2e/security/badInput.test.ts).
 */
const CACHE_MAX_BYTES = 16 * 1024 * 1024;
const INVALID_CACHE_MS = 60_000;
/** A valid token without `exp` is re-verified this often (a key rotation takes effect). */
const NO_EXP_CACHE_MS = 5 * 60_000;

export class JwtVerifier {
  private readonly cache: LRUCache<string, Cached>;
  private readonly schemePrefix: string | null;
  /**
   * The clock tolerance in whole seconds, as jose applies it (it compares claims with the current
   * time in whole seconds too); the cache uses the same figure, so a cached verdict never outlives
   * the one a fresh verification would give (a 400 ms tolerance kept a success 400 ms past `exp`).
   */
  private readonly toleranceS: number;

  constructor(
    readonly config: JwtIdentity,
    private readonly key: Uint8Array | JWTVerifyGetKey,
    private readonly clock: Clock,
    cacheSize = 10_000,
  ) {
    this.cache = new LRUCache({ max: cacheSize, maxSize: CACHE_MAX_BYTES, sizeCalculation: (_v, token) => token.length + 64 });
    this.schemePrefix = config.scheme ? config.scheme.toLowerCase() + ' ' : null;
    this.toleranceS = Math.round(config.clockToleranceMs / 1000);
  }

  /** The token in a header value (scheme stripped), or null when the value does not carry one. */
  tokenOf(headerValue: string | undefined): string | null {
    if (!headerValue) return null;
    let token = headerValue;
    if (this.schemePrefix !== null) {
      if (token.length <= this.schemePrefix.length || token.slice(0, this.schemePrefix.length).toLowerCase() !== this.schemePrefix) return null;
      token = token.slice(this.schemePrefix.length);
    }
    token = token.trim();
    return token.length > 0 ? token : null;
  }

  /** A cached verdict for this token, if one is still valid. */
  cached(token: string): TokenResult | undefined {
    const hit = this.cache.get(token);
    if (hit === undefined) return undefined;
    if (hit.validUntil <= this.clock.now()) {
      this.cache.delete(token);
      return undefined;
    }
    return hit.result;
  }

  async verify(token: string): Promise<TokenResult> {
    const now = this.clock.now();
    const result = await this.verifyUncached(token, now);
    let validUntil = now + INVALID_CACHE_MS;
    if (result.ok) {
      // jose accepts while floor(now / 1 s) < exp + tolerance (exp is finite here: verifyUncached checks)
      const exp = unverifiedPayload(token)?.exp;
      validUntil = typeof exp === 'number' ? (exp + this.toleranceS) * 1000 : now + NO_EXP_CACHE_MS;
    } else if (result.reason === 'claims') {
      // refused as not yet valid (nbf): the refusal must not outlive the moment it becomes valid
      const nbf = unverifiedPayload(token)?.nbf;
      const validFrom = typeof nbf === 'number' && Number.isFinite(nbf) ? (nbf - this.toleranceS) * 1000 : 0;
      if (validFrom > now) validUntil = Math.min(validUntil, validFrom);
    }
    // an over-long token is refused by its length alone: not worth a cache entry
    if (token.length <= MAX_TOKEN_LENGTH) this.cache.set(token, { result, validUntil });
    return result;
  }

  private async verifyUncached(token: string, now: number): Promise<TokenResult> {
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: [...this.config.algorithms],
        currentDate: new Date(now),
        clockTolerance: this.toleranceS,
        // a token without exp never expires: refused unless the policy says requireExp: false
        ...(this.config.requireExp ? { requiredClaims: ['exp'] } : {}),
        ...(this.config.issuer ? { issuer: this.config.issuer } : {}),
        ...(this.config.audience ? { audience: this.config.audience } : {}),
      };
      payload = this.key instanceof Uint8Array ? (await jwtVerify(token, this.key, options)).payload : await verifyWithKeySet(token, this.key, options);
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    }
    // jose reads `exp: 1e400` (JSON for Infinity) as a date and never expires it: a token that
    // dodges requireExp (and stays cached for ever); an infinite nbf or iat is no date either
    for (const c of ['exp', 'nbf', 'iat'] as const) {
      const v = payload[c];
      if (typeof v === 'number' && !Number.isFinite(v)) return { ok: false, reason: 'claims' };
    }
    const claim = payload[this.config.claim];
    if (typeof claim !== 'string' && typeof claim !== 'number') return { ok: false, reason: 'no-claim' };
    const user = sanitizeKeyValue(String(claim));
    if (user.length === 0) return { ok: false, reason: 'no-claim' };
    let tier: string | null = null;
    if (this.config.tierClaim) {
      const t = payload[this.config.tierClaim];
      if (typeof t === 'string' && t.length <= 64) tier = t;
    }
    return { ok: true, user, tier };
  }
}

/**
 * Verification against a key set. A JWKS holding several keys the token could name — no `kid` in
 * the token and two keys of its type (a rotation), or a `kid` the file repeats — makes jose throw
 * ERR_JWKS_MULTIPLE_MATCHING_KEYS with the candidates attached; each is tried, as jose documents,
 * instead of refusing every such token. The candidates are the file's (the operator's) keys, so
 * the work per token is bounded by the file.
 */
async function verifyWithKeySet(token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, getKey, options)).payload;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' || !(Symbol.asyncIterator in (err as object))) throw err;
    let last: unknown = err;
    for await (const key of err as AsyncIterable<CryptoKey>) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (e) {
        // a wrong candidate fails its signature; a right one may still fail a claim, which is the answer
        if ((e as { code?: string }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw e;
        last = e;
      }
    }
    throw last;
  }
}

/** The payload as written, signature unchecked: only to bound how long a verdict is cached. */
function unverifiedPayload(token: string): JWTPayload | null {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null ? (payload as JWTPayload) : null;
  } catch {
    return null;
  }
}

function reasonOf(err: unknown): InvalidTokenReason {
  switch ((err as { code?: string }).code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'algorithm';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'claims';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'no-key';
    default:
      return 'malformed';
  }
}

/**
 * Builds the verifier from the policy's `identity.jwt`. Start-up errors (missing secret variable,
 * unreadable key file, bad JWKS) throw a RatewardenError: the sidecar refuses to start (exit 2)
 * rather than run with identities it cannot check.
 */
export async function createJwtVerifier(config: JwtIdentity, opts: { env?: NodeJS.ProcessEnv; clock: Clock; cacheSize?: number }): Promise<JwtVerifier> {
  const env = opts.env ?? process.env;
  const where = 'identity.jwt';
  if (config.secretEnv) {
    const secret = env[config.secretEnv];
    if (!secret) throw new RatewardenError(ErrorCodes.CONFIG_IDENTITY, `${where}.secretEnv: environment variable ${config.secretEnv} is not set (it must hold the ${config.algorithms.join('/')} shared secret)`);
    const key = new TextEncoder().encode(secret);
    // the longest the policy's algorithms need (the secret itself is never printed: its length only)
    let alg = '';
    for (const a of config.algorithms) if ((MIN_HMAC_SECRET_BYTES[a] ?? 0) > (MIN_HMAC_SECRET_BYTES[alg] ?? 0)) alg = a;
    const need = MIN_HMAC_SECRET_BYTES[alg] ?? 0;
    if (key.length < need) {
      throw new RatewardenError(ErrorCodes.CONFIG_IDENTITY, `${where}.secretEnv: the secret in ${config.secretEnv} is ${key.length} bytes; ${alg} needs at least ${need} (RFC 7518 §3.2: a shorter one can be brute-forced from any token it signs); use a random one, e.g. openssl rand -base64 ${need}`);
    }
    return new JwtVerifier(config, key, opts.clock, opts.cacheSize);
  }
  if (config.jwksFile) {
    let jwks: unknown;
    try {
      jwks = JSON.parse(readFileSync(config.jwksFile, 'utf8'));
    } catch (err) {
      throw new RatewardenError(ErrorCodes.CONFIG_IDENTITY, `${where}.jwksFile: cannot read ${config.jwksFile}: ${(err as Error).message}`);
    }
    if (!jwks || typeof jwks !== 'object' || !Array.isArray((jwks as { keys?: unknown }).keys)) {
      throw new RatewardenError(ErrorCodes.CONFIG_IDENTITY, `${where}.jwksFile: ${config.jwksFile} is not a JWKS ({"keys": [...]})`);
    }
    return new JwtVerifier(config, createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]), opts.clock, opts.cacheSize);
  }
  if (config.publicKeyFile) {
    let pem: string;
    try {
      pem = readFileSync(config.publicKeyFile, 'utf8');
    } catch (err) {
      throw new RatewardenError(ErrorCodes.CONFIG_IDENTITY, `${where}.publicKeyFile: cannot read ${config.publicKeyFile}: ${(err as Error).message}`);
    }
    // one imported key per algorithm the policy allows (a key is bound to its algorithm in WebCrypto)
    const keys = new Map<string, CryptoKey>();
    const usable: string[] = [];
    for (const alg of config.algorithms) {
      try {
        keys.set(alg, pem.includes('BEGIN CERTIFICATE') ? await importX509(pem, alg) : await importSPKI(pem, alg));
        usable.push(alg);
      } catch {
        // this key type does not fit this algorithm; tokens signed with it fail as 'algorithm'
      }
    }
    if (usable.length === 0) {
      throw new RatewardenError(ErrorCodes.CONFIG_IDENTITY, `${where}.publicKeyFile: ${config.publicKeyFile} is not a PEM public key (SPKI or certificate) usable with ${config.algorithms.join(', ')}`);
    }
    const getKey: JWTVerifyGetKey = (header: JWTHeaderParameters) => {
      const key = keys.get(header.alg);
      if (!key) throw Object.assign(new Error(`no key for ${header.alg}`), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
      return key;
    };
    return new JwtVerifier(config, getKey, opts.clock, opts.cacheSize);
  }
  throw new RatewardenError(ErrorCodes.CONFIG_IDENTITY, `${where}: needs secretEnv, publicKeyFile or jwksFile`);
}
