import ipaddr from 'ipaddr.js';

/**
 * The `ip:` value of a client key (policy `clients`, `analyzer.allowlist`) in the form the sidecar
 * gives the same client (sidecar/identity/ip.ts `parseAddress` + `addressKey`): IPv4 dotted, an
 * IPv4-mapped IPv6 address as its IPv4, IPv6 as its `ipv6Prefix` network (`2001:db8:1:2::/64`).
 * Both are exact-string lookups, so `ip:2001:db8:1:2::5` or `ip:2001:DB8::1` as written never
 * matched anything. The sidecar's `/prefix` form itself is accepted (it is what events and blocks
 * show); any other CIDR is refused: a client key names one client, not a range.
 * Kept in models/ (the sidecar cannot be imported from here); test/unit/models/policy.test.ts checks
 * it against the sidecar's function.
 */
export function canonicalClientIp(value: string, ipv6Prefix: number): { ok: true; key: string } | { ok: false; problem: string } {
  const slash = value.indexOf('/');
  let text = slash < 0 ? value : value.slice(0, slash);
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    if (!ipaddr.isValid(text)) throw new Error('invalid');
    addr = ipaddr.parse(text);
  } catch {
    return { ok: false, problem: 'is not an IP address (ip:<IPv4 or IPv6 address>)' };
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (slash >= 0) {
    const bits = value.slice(slash + 1);
    // only the sidecar's own IPv6 network form; a range of clients has no single key
    if (addr.kind() !== 'ipv6' || bits !== String(ipv6Prefix) || ipv6Prefix >= 128) {
      return { ok: false, problem: `is a CIDR: client keys name one client (ip:<address>; an IPv6 address stands for its /${ipv6Prefix} network, identity.ipv6Prefix)` };
    }
  }
  if (addr.kind() === 'ipv4' || ipv6Prefix >= 128) return { ok: true, key: addr.toString() };
  const parts = (addr as ipaddr.IPv6).parts.slice();
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, ipv6Prefix - i * 16));
    parts[i] = keep === 0 ? 0 : parts[i]! & (0xffff << (16 - keep)) & 0xffff;
  }
  return { ok: true, key: new ipaddr.IPv6(parts).toString() + '/' + ipv6Prefix };
}
