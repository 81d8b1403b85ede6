/**
 * Who the simulated callers appear to be: IP addresses (unique per simulation), API keys and
 * user agents. Kept apart from the traffic model so that attack scenarios draw identities from the
 * same pools as normal clients and cannot be told apart by where their addresses come from alone.
 */
import { createHash } from 'node:crypto';
import type { Rng } from './random.js';

/**
 * First octets of public-looking address space, split into "access" networks (homes, offices,
 * carriers) and "hosting" networks (clouds, VPS): attackers use both, with a bias to hosting.
 */
const ACCESS_OCTETS = [24, 31, 37, 46, 62, 68, 71, 73, 78, 82, 86, 90, 98, 109, 112, 121, 151, 174, 177, 186, 189, 201, 213, 217];
const HOSTING_OCTETS = [3, 5, 13, 18, 34, 35, 45, 51, 52, 54, 64, 66, 91, 95, 104, 139, 143, 159, 167, 178, 185, 193, 198, 209];

export type Network = 'access' | 'hosting';

/** Hands out IPv4 addresses that no other simulated caller uses (IP-keyed clients must not merge). */
export class IpAllocator {
  private readonly used = new Set<string>();

  /**
   * A fresh address drawn from `rng` (the caller's own stream, so one caller's addresses do not depend
   * on how many others were drawn before); `near` puts it in the same /24 as another address (an
   * office, a carrier pool).
   */
  next(rng: Rng, network: Network = 'access', near?: string): string {
    for (let attempt = 0; attempt < 1000; attempt++) {
      let ip: string;
      if (near && attempt < 50) {
        const prefix = near.slice(0, near.lastIndexOf('.'));
        ip = `${prefix}.${rng.intBetween(2, 254)}`;
      } else {
        const first = rng.pick(network === 'hosting' ? HOSTING_OCTETS : ACCESS_OCTETS);
        ip = `${first}.${rng.int(256)}.${rng.int(256)}.${rng.intBetween(2, 254)}`;
      }
      if (!this.used.has(ip)) {
        this.used.add(ip);
        return ip;
      }
    }
    throw new Error('IpAllocator: address space exhausted');
  }

  /** An allocator that knows every address this one handed out, and continues independently. */
  clone(): IpAllocator {
    const copy = new IpAllocator();
    for (const ip of this.used) copy.used.add(ip);
    return copy;
  }

  get size(): number {
    return this.used.size;
  }
}

/** A raw API key as a client would hold it (never leaves the simulator except in `x-api-key`). */
export function newApiKey(rng: Rng, tier: string): string {
  let hex = '';
  for (let i = 0; i < 6; i++) hex += rng.uint32().toString(16).padStart(8, '0');
  return `sk_${tier}_${hex}`;
}

/** The digest a sidecar would put in `uaHash`: first 16 hex digits of SHA-256(User-Agent). */
export function uaHash(userAgent: string): string {
  return createHash('sha256').update(userAgent).digest('hex').slice(0, 16);
}

export const USER_AGENTS = {
  browser: [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0',
  ],
  mobile: [
    'okhttp/4.12.0',
    'Shopr/5.3.1 (iPhone; iOS 17.4.1; Scale/3.00) CFNetwork/1494.0.7 Darwin/23.4.0',
    'Shopr/5.3.0 (Android 14; Pixel 8) okhttp/4.12.0',
    'Dalvik/2.1.0 (Linux; U; Android 13; SM-S918B Build/TP1A.220624.014)',
  ],
  server: ['python-requests/2.31.0', 'Go-http-client/1.1', 'axios/1.6.8', 'Java/17.0.10', 'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)', 'Apache-HttpClient/4.5.14 (Java/11.0.22)', 'Ruby', 'curl/8.5.0'],
  tools: ['python-requests/2.31.0', 'curl/8.5.0', 'Go-http-client/2.0', 'python-httpx/0.27.0', 'Scrapy/2.11.1 (+https://scrapy.org)', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36'],
} as const;

export type UserAgentFamily = keyof typeof USER_AGENTS;

export function pickUserAgent(rng: Rng, family: UserAgentFamily): string {
  return rng.pick(USER_AGENTS[family]);
}

/** Words for search queries (normal users repeat popular ones; enumerators walk the list). */
export const SEARCH_WORDS = [
  'shoes', 'jacket', 'laptop', 'phone', 'charger', 'headphones', 'backpack', 'watch', 'camera', 'lamp',
  'desk', 'chair', 'monitor', 'keyboard', 'mouse', 'cable', 'bottle', 'mug', 'tent', 'bike',
  'helmet', 'gloves', 'scarf', 'wallet', 'sunglasses', 'printer', 'router', 'speaker', 'tablet', 'drone',
  'blender', 'kettle', 'toaster', 'pan', 'knife', 'pillow', 'blanket', 'towel', 'soap', 'shampoo',
];
