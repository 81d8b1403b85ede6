/**
 * Who is calling: the identity layer turns one incoming request into the engine's RequestFacts —
 * client IP through trusted proxies, API key id, verified JWT user, tier, client key and the list of
 * identities a block or override may name. Synchronous except on a JWT cache miss, so the common
 * request pays no await here.
 *
 * Tier resolution, in order: the policy's static `clients` map (by API key, then user, then IP), a
 * verified JWT's `tierClaim` naming a defined tier, else `defaultTier`. A tier never comes from a
 * header the client controls.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Policy } from '../../models/policy/index.js';
import { flatString } from '../../models/clientKey.js';
import type { RequestFacts } from '../engine/types.js';
import { AMBIGUOUS_KEY, ApiKeyReader, DUPLICATES_DISCARDED } from './apiKey.js';
import { ClientIpResolver, TrustedProxies } from './ip.js';
import { matchPath } from './matchPath.js';
import type { InvalidTokenReason, JwtVerifier, TokenResult } from './jwt.js';

export { ApiKeyReader, queryParam } from './apiKey.js';
export { ClientIpResolver, TrustedProxies, parseAddress, addressKey } from './ip.js';
export { JwtVerifier, createJwtVerifier, INVALID_TOKEN_REASONS, type InvalidTokenReason, type TokenResult } from './jwt.js';

export interface Identified {
  readonly facts: RequestFacts;
  /** The TCP peer as text, for X-Forwarded-For. */
  readonly peer: string;
  /** Whether the peer is a trusted proxy (its X-Forwarded-Proto / -Host, Forwarded, … are kept). */
  readonly peerTrusted: boolean;
  /**
   * The client's address as text, for X-Real-IP: the hop `facts.ip` was keyed by (through trusted
   * proxies), else the peer — the full address even where the key is an IPv6 network.
   */
  readonly client: string;
  /** Set when a JWT was presented and not accepted. */
  readonly invalidToken: InvalidTokenReason | null;
  /** Set when the request carries more than one API key or token (answered 400: which one the upstream reads is not known). */
  readonly ambiguousCredential: string | null;
}

/** Index of the first `?` or `#` of a request target, or −1. */
function pathEnd(url: string): number {
  const q = url.indexOf('?');
  const h = url.indexOf('#');
  return q < 0 ? h : h < 0 ? q : Math.min(q, h);
}

/**
 * `url` up to `end` (its query or fragment), as a string of its own. V8 keeps a slice as a view of
 * the whole string: a path kept as a `route` key in the memory store (bounded in keys) held its
 * request target alive, a 15 KB query included (test/unit/sidecar/routeKeyMemory.test.ts).
 * Concatenated, then flattened (flatString), it is a copy.
 */
function pathOf(url: string, end: number): string {
  const slice = url.slice(0, end);
  if (slice.length < 13) return slice; // V8 copies short slices
  return flatString(slice.charAt(0) + slice.slice(1));
}

/**
 * Headers whose values are secrets: a rule keyed by `header:<one of these>` gets the value's
 * 16-hex digest instead, so no credential can end up in a Redis key, an event or a metric.
 */
const ALWAYS_SECRET = ['authorization', 'proxy-authorization', 'cookie'];

/**
 * Header names that say they carry a credential (`x-api-key`, `x-auth-token`, `x-session-id`,
 * `x-client-secret`, …) are secret too, whether or not the policy's identity section names them:
 * a rule keyed by `header:x-api-key` without `identity.apiKey` kept the raw key in its Redis key.
 */
export function isSecretHeaderName(name: string): boolean {
  return ALWAYS_SECRET.includes(name) || /key|token|secret|passw|auth|session|cookie|credential|signature/.test(name);
}

/** RequestFacts over a Node request: fields computed once, headers read lazily. */
export class IncomingFacts implements RequestFacts {
  graphql?: { readonly query: string; readonly operationName?: string | null } | null;
  constructor(
    readonly method: string,
    readonly path: string,
    readonly host: string,
    readonly ip: string,
    readonly apiKeyId: string | null,
    readonly user: string | null,
    readonly tier: string,
    readonly clientKey: string,
    readonly identities: readonly string[],
    private readonly headers: IncomingMessage['headers'],
    private readonly secrets: SecretHeaders,
    /** The request's headers with repeated ones kept apart (IncomingMessage.headersDistinct, computed on first use). */
    private readonly distinct: () => Readonly<Record<string, string[] | undefined>> = () => ({}),
  ) {}

  /**
   * A header's value for a `header:` key part: its first value when the request repeats it (Node
   * joins repeated headers into "a, b": a fresh key, and a fresh budget, for every second value,
   * while the upstream most likely reads the first); a secret header's digest.
   */
  header(name: string): string | undefined {
    const h = this.headers[name];
    let v = Array.isArray(h) ? h[0] : h;
    if (v !== undefined && v.includes(',')) {
      const all = this.distinct()[name];
      if (all !== undefined && all.length > 1) v = all[0];
    }
    return v !== undefined && (this.secrets.names.has(name) || isSecretHeaderName(name)) ? this.secrets.hash.idOf(v) : v;
  }

  toJSON(): Record<string, unknown> {
    const { headers: _h, secrets: _s, distinct: _d, ...rest } = this;
    return rest;
  }
}

interface SecretHeaders {
  readonly names: ReadonlySet<string>;
  readonly hash: ApiKeyReader;
}

interface PeerInfo {
  readonly generation: number;
  readonly remote: string | undefined;
  readonly key: string;
  readonly trusted: boolean;
  readonly text: string;
}

const kPeer = Symbol('ratewarden.peer');
let generations = 0;

export class IdentityResolver {
  private readonly generation = ++generations;
  private readonly ips: ClientIpResolver;
  private readonly apiKeys: ApiKeyReader | null;
  private readonly jwtHeader: string | null;
  private readonly secrets: SecretHeaders;

  constructor(
    private readonly policy: Policy,
    private readonly jwt: JwtVerifier | null,
    opts: { hashKey?: string | undefined } = {},
  ) {
    this.ips = new ClientIpResolver(new TrustedProxies(policy.identity.trustedProxies), policy.identity.ipv6Prefix);
    this.apiKeys = policy.identity.apiKey ? new ApiKeyReader(policy.identity.apiKey, { hashKey: opts.hashKey }) : null;
    this.jwtHeader = jwt ? jwt.config.header : null;
    const names = new Set(ALWAYS_SECRET);
    if (policy.identity.apiKey?.header) names.add(policy.identity.apiKey.header);
    if (policy.identity.jwt) names.add(policy.identity.jwt.header);
    this.secrets = { names, hash: this.apiKeys ?? new ApiKeyReader({ header: null, query: null }, { hashKey: opts.hashKey, cacheSize: 1_000 }) };
  }

  resolve(req: IncomingMessage): Identified | Promise<Identified> {
    const peer = this.peerOf(req.socket);
    const headers = req.headers;
    let ip = peer.key;
    let client = peer.text;
    if (peer.trusted) {
      const behind = this.ips.clientBehind(headerValue(headers['x-forwarded-for']));
      if (behind !== null) {
        client = behind.toString();
        ip = this.ips.keyOf(behind, client);
      }
    }
    const url = req.url ?? '/';
    let apiKeyId = this.apiKeys !== null ? this.apiKeys.read(headers, url, (name) => headerLines(req, name)) : null;
    let ambiguous: string | null = null;
    if (apiKeyId === AMBIGUOUS_KEY) {
      apiKeyId = null;
      ambiguous = 'the request carries more than one API key';
    }
    if (this.jwt !== null) {
      const value = headerValue(headers[this.jwtHeader!]);
      if (value !== undefined && ambiguous === null && this.repeated(req, this.jwtHeader!, value)) {
        // which token the upstream reads is not known: neither may name the user (nor be refused as "the" token)
        return this.build(req, peer, ip, client, apiKeyId, null, 'the request carries more than one token');
      }
      const token = this.jwt.tokenOf(value);
      if (token !== null) {
        const cached = this.jwt.cached(token);
        if (cached !== undefined) return this.build(req, peer, ip, client, apiKeyId, cached, ambiguous);
        const keyId = apiKeyId;
        return this.jwt.verify(token).then((result) => this.build(req, peer, ip, client, keyId, result, ambiguous));
      }
    }
    return this.build(req, peer, ip, client, apiKeyId, null, ambiguous);
  }

  private build(req: IncomingMessage, peer: PeerInfo, ip: string, client: string, apiKeyId: string | null, token: TokenResult | null, ambiguous: string | null = null): Identified {
    const user = token !== null && token.ok ? token.user : null;
    const ipId = 'ip:' + ip;
    const apiId = apiKeyId !== null ? 'apiKey:' + apiKeyId : null;
    const userId = user !== null ? 'user:' + user : null;
    const identities: string[] = [];
    if (apiId !== null) identities.push(apiId);
    if (userId !== null) identities.push(userId);
    identities.push(ipId);
    const clientKey = identities[0]!;
    const tier = this.tierOf(apiId, userId, ipId, token);
    const url = req.url ?? '/';
    // the path ends at the query or at a fragment (which no client should send, and which servers
    // drop: `/login#1` is their /login, so it must be the rules' /login too)
    const end = pathEnd(url);
    const facts = new IncomingFacts(req.method ?? 'GET', matchPath(end < 0 ? url : pathOf(url, end)), hostOf(req.headers.host), ip, apiKeyId, user, tier, clientKey, identities, req.headers, this.secrets, () => req.headersDistinct);
    return { facts, peer: peer.text, peerTrusted: peer.trusted, client, invalidToken: token !== null && !token.ok ? token.reason : null, ambiguousCredential: ambiguous };
  }

  private tierOf(apiId: string | null, userId: string | null, ipId: string, token: TokenResult | null): string {
    const clients = this.policy.clients;
    const byClient = (apiId !== null ? clients[apiId] : undefined) ?? (userId !== null ? clients[userId] : undefined) ?? clients[ipId];
    if (byClient !== undefined) return byClient.tier;
    if (token !== null && token.ok && token.tier !== null && Object.hasOwn(this.policy.tiers, token.tier)) return token.tier;
    return this.policy.defaultTier;
  }

  /**
   * Whether header `name` (whose value as Node gives it is `value`) was sent more than once. Node
   * joins most repeated headers into "a, b" (for a JWT header: a malformed token, so an anonymous
   * request, while the upstream authenticates the first), and keeps only the first Authorization or
   * Proxy-Authorization (while the upstream, which gets every line, may read the last): either way
   * the sidecar and the upstream could see two different callers.
   */
  private repeated(req: IncomingMessage, name: string, value: string): boolean {
    if (!DUPLICATES_DISCARDED.has(name) && !value.includes(',')) return false;
    return headerLines(req, name) > 1;
  }

  /** The peer is the same for every request on a connection: computed once and kept on the socket. */
  private peerOf(socket: Socket): PeerInfo {
    const holder = socket as Socket & { [kPeer]?: PeerInfo };
    const remote = socket.remoteAddress;
    const known = holder[kPeer];
    if (known !== undefined && known.generation === this.generation && known.remote === remote) return known;
    const p = this.ips.peer(remote);
    const info: PeerInfo = { generation: this.generation, remote, key: p.key, trusted: p.trusted, text: p.text };
    holder[kPeer] = info;
    return info;
  }
}

/**
 * How many lines of header `name` (lower-case) the request has. Counted over `rawHeaders` (a short
 * scan, where `headersDistinct` builds arrays for every header: ~4 µs a request); a request object
 * without `rawHeaders` (a test's) is read through `headersDistinct`.
 */
function headerLines(req: IncomingMessage, name: string): number {
  const raw = req.rawHeaders as string[] | undefined;
  if (raw === undefined) return req.headersDistinct[name]?.length ?? 0;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const h = raw[i]!;
    if (h.length === name.length && (h === name || sameLetters(h, name))) n++;
  }
  return n;
}

/** `h` equals the lower-case `name` but for case, without allocating (header names are ASCII tokens). */
function sameLetters(h: string, name: string): boolean {
  for (let k = 0; k < name.length; k++) {
    const c = h.charCodeAt(k);
    const want = name.charCodeAt(k);
    if (c !== want && (c < 65 || c > 90 || c + 32 !== want)) return false;
  }
  return true;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Host header without port, lower-case (`[::1]:8080` → `[::1]`). */
export function hostOf(host: string | undefined): string {
  if (!host) return '';
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close < 0 ? host.length : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) end = colon;
  }
  const h = host.slice(0, end);
  return h.toLowerCase();
}
