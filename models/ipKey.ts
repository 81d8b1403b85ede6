/**
 * Client IPs as key parts, one form for every component: the sidecar keys a request by it
 * (sidecar/identity/ip.ts), the policy's `clients` and `analyzer.allowlist` and the operator API's
 * blocks and overrides put an `ip:` key an operator wrote in the same form, so they match.
 */
import ipaddr from 'ipaddr.js';

export type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses an address as it appears in a socket or an X-Forwarded-For hop (`[v6]:port`, `v4:port` tolerated); null when invalid. */
export function parseAddress(text: string): Address | null {
  let t = text.trim();
  if (t.length === 0 || t.length > 64) return null;
  if (t.charCodeAt(0) === 91 /* [ */) {
    const end = t.indexOf(']');
    if (end < 0) return null;
    t = t.slice(1, end);
  } else {
    const colon = t.indexOf(':');
    // exactly one colon: IPv4 with a port
    if (colon > 0 && colon === t.lastIndexOf(':')) t = t.slice(0, colon);
  }
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  if (!ipaddr.isValid(t)) return null;
  let addr: Address;
  try {
    addr = ipaddr.parse(t);
  } catch {
    return null;
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return (addr as ipaddr.IPv6).toIPv4Address();
  return addr;
}

/** The key form of an address: IPv4 dotted, IPv6 reduced to its `/prefix` network (`2001:db8:1:2::/64`). */
export function addressKey(addr: Address, ipv6Prefix: number): string {
  if (addr.kind() === 'ipv4') return addr.toString();
  if (ipv6Prefix >= 128) return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice();
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, ipv6Prefix - i * 16));
    parts[i] = keep === 0 ? 0 : parts[i]! & (0xffff << (16 - keep)) & 0xffff;
  }
  return new ipaddr.IPv6(parts).toString() + '/' + ipv6Prefix;
}

/**
 * The `ip:` value of a client key an operator wrote (policy `clients`, `analyzer.allowlist`, the
 * operator API) in its key form (`addressKey`): lookups are exact strings, so `ip:2001:db8:1:2::5`
 * or `ip:2001:DB8::1` as written never matched anything. The `/prefix` form itself is accepted (it
 * is what events and blocks show); any other CIDR is refused: a client key names one client.
 */
export function canonicalClientIp(value: string, ipv6Prefix: number): { ok: true; key: string } | { ok: false; problem: string } {
  const slash = value.indexOf('/');
  const addr = parseAddress(slash < 0 ? value : value.slice(0, slash));
  if (addr === null) return { ok: false, problem: 'is not an IP address (ip:<IPv4 or IPv6 address>)' };
  if (slash >= 0) {
    const bits = value.slice(slash + 1);
    // only the sidecar's own IPv6 network form; a range of clients has no single key
    if (addr.kind() !== 'ipv6' || bits !== String(ipv6Prefix) || ipv6Prefix >= 128) {
      return { ok: false, problem: `is a CIDR: client keys name one client (ip:<address>; an IPv6 address stands for its /${ipv6Prefix} network, identity.ipv6Prefix)` };
    }
  }
  return { ok: true, key: addressKey(addr, ipv6Prefix) };
}
