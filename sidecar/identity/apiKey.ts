/**
 * The API key of a request, from a header or a query parameter, turned into the 16-hex id that is
 * the only form of it that ever leaves the sidecar. Hashing is cached (bounded LRU keyed by the raw
 * key, inside this process only) so a busy key costs one Map lookup, not a SHA-256 per request.
 */
import { LRUCache } from 'lru-cache';
import { MAX_API_KEY_LENGTH, secretHasher, type SecretHasher } from '../../models/clientKey.js';

/**
 * Headers of which Node keeps only the first value in `req.headers` (no "a, b" join betrays a
 * repeat), while the upstream gets every line and may read another: a credential header named
 * `authorization` is one.
 */
export const DUPLICATES_DISCARDED: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'age', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'referer', 'retry-after', 'server', 'user-agent']);

/** Longer values are not keys anyone issues; they are not hashed (and count as no key). */
const MAX_KEY_LENGTH = MAX_API_KEY_LENGTH;

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

  /**
   * The key id, null when the request carries no (usable) key, or AMBIGUOUS_KEY when it carries
   * more than one: the header twice (Node joins repeated headers into "a, b", a new key for every
   * second value, while an upstream reading the first value authenticates the first; of
   * Authorization it keeps only the first, while the upstream may read the last), the parameter
   * twice (servers differ on which one wins), or a header and a parameter that disagree.
   * `lines`: how many times the request sends a header (its lines), asked only when the header's
   * value holds a comma or the header is one Node keeps the first of.
   */
  read(headers: Readonly<Record<string, string | string[] | undefined>>, url: string, lines?: (name: string) => number): string | null {
    let raw: string | undefined;
    if (this.source.header !== null) {
      const h = headers[this.source.header];
      if (Array.isArray(h)) {
        if (h.length > 1) return AMBIGUOUS_KEY;
        raw = h[0];
      } else raw = h;
      if (raw !== undefined && lines !== undefined && (raw.includes(',') || DUPLICATES_DISCARDED.has(this.source.header)) && lines(this.source.header) > 1) return AMBIGUOUS_KEY;
    }
    if (this.source.query !== null) {
      const fromQuery = queryParams(url, this.source.query);
      if (fromQuery !== null) {
        if (fromQuery.length > 1) return AMBIGUOUS_KEY;
        if (raw === undefined || raw === '') raw = fromQuery[0];
        else if (fromQuery[0]!.trim() !== raw.trim()) return AMBIGUOUS_KEY;
      }
    }
    if (raw === undefined) return null;
    raw = raw.trim();
    if (raw.length === 0 || raw.length > MAX_KEY_LENGTH) return null;
    return this.idOf(raw);
  }

  /** The digest of a secret value; cached when it is no longer than a key can be (a longer value is hashed each time: the cache holds at most MAX_KEY_LENGTH characters an entry). */
  idOf(raw: string): string {
    if (raw.length > MAX_KEY_LENGTH) return this.hash(raw);
    let id = this.cache.get(raw);
    if (id === undefined) {
      id = this.hash(raw);
      this.cache.set(raw, id);
    }
    return id;
  }
}

/** ApiKeyReader.read's answer for a request that carries more than one API key (refused with 400). */
export const AMBIGUOUS_KEY = '\u0000ambiguous';

/**
 * The query of a request target: after the first `?`, up to a `#`. Node hands the fragment to the
 * server as part of `req.url` when a client sends one, but the upstream never sees it (undici drops
 * it when forwarding, and servers parsing a URL put it apart from the query): `?api_key=K#1` must be
 * the key `K`, not a fresh key (and a fresh budget) for every fragment.
 */
function queryOf(url: string): string | null {
  const q = url.indexOf('?');
  if (q < 0) return null;
  const h = url.indexOf('#', q + 1);
  return h < 0 ? url.slice(q + 1) : url.slice(q + 1, h);
}

/**
 * Whether `query` may hold parameter `name` at all, before paying for a parse. The name may be
 * percent-encoded (`api%5Fkey=` is `api_key=` to every server, which decode names as they decode
 * values), and a space in it may be written `+`.
 */
function mayHold(query: string, name: string): boolean {
  return query.includes(name) || (query.includes('%') && ESCAPED_NAME.test(query)) || (name.includes(' ') && query.includes('+'));
}

/** A `%` inside a parameter's name (before its `=`): an escaped value (`?q=a%20b`) alone is no reason to parse the query. */
const ESCAPED_NAME = /(?:^|&)[^=&]*%/;

/** Every value of one query parameter (decoded, its name too), or null when it is absent; the URL is scanned only when it has a query. */
export function queryParams(url: string, name: string): string[] | null {
  const query = queryOf(url);
  if (query === null || !mayHold(query, name)) return null;
  try {
    const all = new URLSearchParams(query).getAll(name);
    return all.length > 0 ? all : null;
  } catch {
    return null;
  }
}

/** The first value of one query parameter (decoded, its name too), or null; the URL is scanned only when it has a query. */
export function queryParam(url: string, name: string): string | null {
  const query = queryOf(url);
  if (query === null || !mayHold(query, name)) return null;
  try {
    return new URLSearchParams(query).get(name);
  } catch {
    return null;
  }
}
