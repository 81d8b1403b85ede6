/**
 * The API key of a request, from a header or a query parameter, turned into the 16-hex id that is
 * the only form of it that ever leaves the sidecar. Hashing is cached (bounded LRU keyed by the raw
 * key, inside this process only) so a busy key costs one Map lookup, not a SHA-256 per request.
 */
import { LRUCache } from 'lru-cache';
import { secretHasher, type SecretHasher } from '../../models/clientKey.js';

/** Longer values are not keys anyone issues; they are not hashed (and count as no key). */
const MAX_KEY_LENGTH = 512;

export class ApiKeyReader {
  private readonly hash: SecretHasher;
  private readonly cache: LRUCache<string, string>;

  constructor(
    private readonly source: { readonly header: string | null; readonly query: string | null },
    opts: { hashKey?: string | undefined; cacheSize?: number } = {},
  ) {
    this.hash = secretHasher(opts.hashKey);
    this.cache = new LRUCache({ max: opts.cacheSize ?? 10_000 });
  }

  /** The key id, or null when the request carries no (usable) key. */
  read(headers: Readonly<Record<string, string | string[] | undefined>>, url: string): string | null {
    let raw: string | undefined;
    if (this.source.header !== null) {
      const h = headers[this.source.header];
      raw = Array.isArray(h) ? h[0] : h;
    }
    if ((raw === undefined || raw === '') && this.source.query !== null) raw = queryParam(url, this.source.query) ?? undefined;
    if (raw === undefined) return null;
    raw = raw.trim();
    if (raw.length === 0 || raw.length > MAX_KEY_LENGTH) return null;
    return this.idOf(raw);
  }

  idOf(raw: string): string {
    let id = this.cache.get(raw);
    if (id === undefined) {
      id = this.hash(raw);
      this.cache.set(raw, id);
    }
    return id;
  }
}

/** The first value of one query parameter (decoded), or null; the URL is scanned only when it has a query. */
export function queryParam(url: string, name: string): string | null {
  const q = url.indexOf('?');
  if (q < 0) return null;
  const query = url.slice(q + 1);
  if (!query.includes(name)) return null;
  try {
    return new URLSearchParams(query).get(name);
  } catch {
    return null;
  }
}
