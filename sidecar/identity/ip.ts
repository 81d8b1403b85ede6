/**
 * The client IP, as a rate-limit key part. X-Forwarded-For is believed only when the TCP peer is a
 * trusted proxy, and then only up to the rightmost hop that is not itself trusted: every hop left of
 * that was written by someone we do not trust (the client can prepend anything). IPv6 clients are
 * keyed by their `ipv6Prefix` network, so rotating addresses inside one allocation (a /64 is one
 * customer) does not multiply a budget. IPv4-mapped IPv6 peers (`::ffff:1.2.3.4`) count as IPv4.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

export class TrustedProxies {
  private readonly v4: Array<[ipaddr.IPv4, number]> = [];
  private readonly v6: Array<[ipaddr.IPv6, number]> = [];

  /** CIDRs (or single addresses) of proxies whose X-Forwarded-For is believed; already validated by the policy parser. */
  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const [addr, bits] = text.includes('/') ? ipaddr.parseCIDR(text) : single(ipaddr.parse(text));
      if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) this.v4.push([(addr as ipaddr.IPv6).toIPv4Address(), bits - 96]);
      else if (addr.kind() === 'ipv4') this.v4.push([addr as ipaddr.IPv4, bits]);
      else this.v6.push([addr as ipaddr.IPv6, bits]);
    }
  }

  get empty(): boolean {
    return this.v4.length === 0 && this.v6.length === 0;
  }

  contains(addr: Address): boolean {
    if (addr.kind() === 'ipv4') {
      for (const range of this.v4) if ((addr as ipaddr.IPv4).match(range)) return true;
      return false;
    }
    for (const range of this.v6) if ((addr as ipaddr.IPv6).match(range)) return true;
    return false;
  }
}

function single(addr: Address): [Address, number] {
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

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

export class ClientIpResolver {
  constructor(
    private readonly trusted: TrustedProxies,
    private readonly ipv6Prefix: number,
  ) {}

  /** What a TCP peer is, computed once per connection by the caller (see identity/index.ts). */
  peer(remoteAddress: string | undefined): { key: string; addr: Address | null; trusted: boolean; text: string } {
    const addr = remoteAddress ? parseAddress(remoteAddress) : null;
    if (addr === null) return { key: remoteAddress ?? 'unknown', addr: null, trusted: false, text: remoteAddress ?? 'unknown' };
    return { key: addressKey(addr, this.ipv6Prefix), addr, trusted: !this.trusted.empty && this.trusted.contains(addr), text: addr.toString() };
  }

  /**
   * The client behind a trusted peer: walk X-Forwarded-For from the right, skipping trusted hops;
   * the first untrusted hop is the client. An unparseable hop ends the walk (nothing left of it can
   * be believed) and the last believed hop stands. All hops trusted: the leftmost one.
   */
  throughProxies(peerKey: string, xff: string | undefined): string {
    if (!xff) return peerKey;
    let candidate = peerKey;
    let end = xff.length;
    while (end > 0) {
      const comma = xff.lastIndexOf(',', end - 1);
      const hop = xff.slice(comma + 1, end);
      end = comma < 0 ? 0 : comma;
      const addr = parseAddress(hop);
      if (addr === null) return candidate;
      const key = addressKey(addr, this.ipv6Prefix);
      if (!this.trusted.contains(addr)) return key;
      candidate = key;
    }
    return candidate;
  }
}
