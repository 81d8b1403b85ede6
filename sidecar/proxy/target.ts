/**
 * The absolute-form request target (`GET http://api.example/items?page=2 HTTP/1.1`, RFC 9112
 * §3.2.2): what a client configured with the sidecar as its HTTP proxy sends, and what a server
 * MUST accept. It is taken as the origin-form path it names, which the rules match and the upstream
 * receives, and its authority replaces the Host the request carried (the RFC's "MUST ignore the
 * received Host"), so a rule matched on the host and the upstream see the same one.
 */
import type { IncomingMessage } from 'node:http';

/** scheme://authority, then the rest of the target (path, query, fragment), which may be empty. */
const ABSOLUTE = /^https?:\/\/([^/?#]*)(.*)$/is;
/** A host (a name, IPv4 or a bracketed IPv6 literal) and an optional port, nothing else. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(?::\d{0,5})?$/;

/**
 * Rewrites an absolute-form `req` to the origin form in place (its url, Host header and the raw
 * header lines the upstream receives); returns why the target is refused, or null. Only called for
 * a target that does not start with `/`.
 */
export function toOriginForm(req: IncomingMessage): string | null {
  const m = ABSOLUTE.exec(req.url ?? '');
  if (m === null) return 'the request target must be an origin-form path or an absolute http(s) URI';
  const authority = m[1]!;
  // user information in a target is deprecated and a credential (RFC 9110 §4.2.4): never forwarded
  if (authority.includes('@')) return 'the request target must not carry user information (user:password@)';
  if (!AUTHORITY.test(authority)) return 'the request target has no valid host';
  const rest = m[2]!;
  const first = rest.charCodeAt(0);
  req.url = first === 47 /* / */ ? rest : '/' + rest;
  // the raw lines first: headers and headersDistinct are built from them when first read
  const raw = req.rawHeaders;
  let found = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') {
      raw[i + 1] = authority;
      found = true;
    }
  }
  if (!found) raw.push('Host', authority);
  req.headers.host = authority;
  return null;
}
