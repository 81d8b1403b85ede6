/**
 * Header rewriting at the proxy boundary (RFC 9110 §7.6.1): hop-by-hop headers — the fixed list and
 * every name the Connection header lists — stop here, everything else passes unchanged, Host
 * included, and X-Forwarded-For/-Proto/-Host describe the hop we add. X-Forwarded-Proto and -Host
 * from the client are kept only when the peer is a trusted proxy; otherwise ours replace them.
 * X-Real-IP is always ours (the client address identity resolved). The other headers an upstream
 * app may take the client's address, scheme, port or prefix from (TRUSTED_ONLY) are kept only from
 * a trusted proxy: from anyone else they are a claim the client wrote itself, and are dropped.
 */

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

/**
 * Kept only when the TCP peer is a trusted proxy, dropped otherwise (lower-case): the forwarding
 * headers frameworks and client-IP helpers (npm's request-ip, Rack, Spring's ForwardedHeaderFilter)
 * read besides X-Forwarded-For/-Proto/-Host (which get ours) and X-Real-IP (always ours): RFC 7239
 * `Forwarded`; the rest of the X-Forwarded-* family (port, path prefix, Rack's `-Ssl: on` and
 * `-Scheme`); the legacy `X-Forwarded` and `Forwarded-For`; and the CDN/load-balancer client-IP
 * headers (True-Client-IP of Akamai and Cloudflare Enterprise, CF-Connecting-IP, Fastly-Client-IP,
 * X-Client-IP, X-Cluster-Client-IP). Names a trusted proxy sets pass through it unchanged.
 */
const TRUSTED_ONLY = new Set([
  'forwarded',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'x-forwarded',
  'forwarded-for',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
]);
const UNTRUSTED_DROP = new Set([...HOP_BY_HOP, ...TRUSTED_ONLY]);

/**
 * Names listed in a Connection header (lower-case) added to `into`, or `into` (null) when there are
 * none beyond keep-alive/close.
 */
function connectionListed(value: string | undefined, into: Set<string> | null = null): Set<string> | null {
  if (!value) return into;
  // the usual values name nothing beyond themselves
  if (value.length <= 10) {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return into;
  }
  let set: Set<string> | null = into;
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive') continue;
    (set ??= new Set()).add(name);
  }
  return set;
}

export interface ForwardedFor {
  /** The TCP peer (appended to X-Forwarded-For). */
  readonly peer: string;
  /** Whether the peer's X-Forwarded-Proto / -Host and the TRUSTED_ONLY headers are believed (kept). */
  readonly peerTrusted: boolean;
  /**
   * The client address identity resolved (the rightmost untrusted X-Forwarded-For hop behind a
   * trusted peer, else the peer): sent as X-Real-IP, replacing the client's.
   */
  readonly client: string;
  /** Our own scheme (http, or https behind a TLS listener). */
  readonly proto: string;
}

/**
 * Upstream request headers as a flat `[name, value, …]` array from Node's `rawHeaders` (original
 * case and order kept). `expect` is dropped: Node already answered 100-continue, and undici refuses it.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], connection: string | undefined, fwd: ForwardedFor): string[] {
  const listed = connectionListed(connection);
  const trusted = fwd.peerTrusted;
  // one lookup per header either way: the claims join the hop-by-hop set for an untrusted peer
  const drop = trusted ? HOP_BY_HOP : UNTRUSTED_DROP;
  const out: string[] = [];
  let xff: string | null = null;
  let xfProto: string | null = null;
  let xfHost: string | null = null;
  let host: string | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    // no fixed name below is longer than 32; a Connection-listed one may be, and is lower-case
    const lower = name.length <= 32 || listed !== null ? name.toLowerCase() : name;
    // Host is never a connection option (it is what the rules matched; undici would put the upstream's origin in its place)
    if (drop.has(lower) || (listed !== null && listed.has(lower) && lower !== 'host')) continue;
    switch (lower) {
      case 'expect':
      case 'x-real-ip':
        continue;
      case 'x-forwarded-for':
        xff = xff === null ? value : xff + ', ' + value;
        continue;
      case 'x-forwarded-proto':
        xfProto ??= value;
        continue;
      case 'x-forwarded-host':
        xfHost ??= value;
        continue;
      case 'host':
        host ??= value;
        break;
    }
    out.push(name, value);
  }
  out.push('x-forwarded-for', xff === null ? fwd.peer : xff + ', ' + fwd.peer);
  out.push('x-forwarded-proto', trusted && xfProto !== null ? xfProto : fwd.proto);
  const forwardedHost = trusted && xfHost !== null ? xfHost : host;
  if (forwardedHost !== null) out.push('x-forwarded-host', forwardedHost);
  out.push('x-real-ip', fwd.client);
  return out;
}

/** Names of rate-limit headers the sidecar sets itself; the upstream's own are dropped when ours are present. */
const OURS = new Set(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit', 'ratelimit-policy']);

/**
 * Response headers for the client from undici's raw upstream headers (Buffers, latin1), hop-by-hop
 * removed, followed by `extra` (our rate-limit headers).
 */
export function clientResponseHeaders(raw: ReadonlyArray<Buffer | string>, extra: readonly string[]): string[] {
  const out: string[] = [];
  let listed: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    // every Connection line counts (a list may be split across lines)
    if (n.length === 10 && text(n).toLowerCase() === 'connection') listed = connectionListed(text(raw[i + 1]!), listed);
  }
  const dropOurs = extra.length > 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = text(raw[i]!);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower)) || (dropOurs && OURS.has(lower))) continue;
    out.push(name, text(raw[i + 1]!));
  }
  for (const h of extra) out.push(h);
  return out;
}

function text(b: Buffer | string): string {
  return typeof b === 'string' ? b : b.toString('latin1');
}
