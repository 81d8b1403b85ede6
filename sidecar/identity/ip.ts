/**
 * The client IP, as a rate-limit key part. X-Forwarded-For is believed only when the TCP peer is a
 * trusted proxy, and then only up to the rightmost hop that is not itself trusted: every hop left of
 * that was written by someone we do not trust (the client can prepend anything). IPv6 clients are
 * keyed by their `ipv6Prefix` network, so rotating addresses inside one allocation (a /64 is one
 * customer) does not multiply a budget. IPv4-mapped IPv6 peers (`::ffff:1.2.3.4`) count as IPv4.
 */
import ipaddr from 'ipaddr.js';
import { addressKey, parseAddress, type Address } from '../../models/ipKey.js';

export { addressKey, parseAddress };

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
   * be believed) and the last believed hop stands. All hops trusted: the leftmost one. Null when no
   * hop is believed (no header, or the rightmost hop unparseable): the peer itself is the client.
   */
  clientBehind(xff: string | undefined): Address | null {
    if (!xff) return null;
    let candidate: Address | null = null;
    let end = xff.length;
    while (end > 0) {
      const comma = xff.lastIndexOf(',', end - 1);
      const hop = xff.slice(comma + 1, end);
      end = comma < 0 ? 0 : comma;
      const addr = parseAddress(hop);
      if (addr === null) return candidate;
      if (!this.trusted.contains(addr)) return addr;
      candidate = addr;
    }
    return candidate;
  }

  /** The key form of a client address whose text (`addr.toString()`) is `text`: IPv4 as is, IPv6 its network. */
  keyOf(addr: Address, text: string): string {
    return addr.kind() === 'ipv4' || this.ipv6Prefix >= 128 ? text : addressKey(addr, this.ipv6Prefix);
  }

  /** The key of the client behind a trusted peer (see clientBehind), or `peerKey` when no hop is believed. */
  throughProxies(peerKey: string, xff: string | undefined): string {
    const addr = this.clientBehind(xff);
    return addr === null ? peerKey : addressKey(addr, this.ipv6Prefix);
  }
}
