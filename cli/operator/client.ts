/**
 * The operator CLI's HTTP client for the analyzer API. Base URL from `--url` or RW_ANALYZER_URL
 * (default http://127.0.0.1:9090); token from RW_ADMIN_TOKEN or `--token-file` (the file wins, so a
 * token need never sit in the environment or shell history); `--as NAME` is sent as X-Operator.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

export const DEFAULT_URL = 'http://127.0.0.1:9090';

export interface ClientOptions {
  readonly url: string;
  readonly token: string | null;
  readonly operator: string | null;
  readonly timeoutMs?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fieldErrors: ReadonlyArray<{ path: string; message: string }> = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  describe(): string {
    const lines = [`${this.message}${this.status ? ` (HTTP ${this.status}, ${this.code})` : ''}`];
    for (const e of this.fieldErrors) lines.push(`  ${e.path}: ${e.message}`);
    return lines.join('\n');
  }
}

/** Usage errors (exit 2), as opposed to API errors (exit 1). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function clientOptions(flags: { url?: string; 'token-file'?: string; as?: string }, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  let token: string | null = env.RW_ADMIN_TOKEN?.trim() || null;
  let tokenSource = 'RW_ADMIN_TOKEN';
  if (flags['token-file'] !== undefined) {
    tokenSource = `--token-file ${flags['token-file']}`;
    try {
      token = readFileSync(flags['token-file'], 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--token-file: ${(err as Error).message}`);
    }
    // an empty file would send no token at all, and the 401 would then ask for the file just given
    if (!token) throw new UsageError(`--token-file ${flags['token-file']} is empty`);
  }
  // a bearer token is one word of printable ASCII: anything else is refused by the analyzer, or makes
  // fetch throw before sending (once reported as an unreachable analyzer). The token is never printed
  if (token !== null && !/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError(`the token from ${tokenSource} contains whitespace, control or non-ASCII characters: a bearer token is one word${flags['token-file'] !== undefined ? ' (is it the right file?)' : ''}`);
  }
  const given = flags.url ?? env.RW_ANALYZER_URL ?? DEFAULT_URL;
  const url = given.replace(/\/+$/, '');
  if (!/^https?:\/\//i.test(url)) throw new UsageError(`--url must be http:// or https:// (got "${redactUrl(url)}")`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url "${redactUrl(url)}" is not a URL (e.g. http://127.0.0.1:9090)`);
  }
  // fetch refuses a URL with credentials (once reported as an unreachable analyzer, password and all)
  if (parsed.username || parsed.password) {
    throw new UsageError(`--url must not carry a user name or password (got "${redactUrl(url)}"): the analyzer takes a bearer token, from RW_ADMIN_TOKEN or --token-file`);
  }
  if (parsed.search || parsed.hash) throw new UsageError(`--url takes no query or fragment (got "${redactUrl(url)}")`);
  let operator = flags.as ?? env.RW_OPERATOR ?? null;
  if (operator === null) {
    try {
      operator = userInfo().username;
    } catch {
      operator = null;
    }
  }
  return { url, token, operator };
}

/** `url` with any user name and password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

export class OperatorClient {
  constructor(private readonly options: ClientOptions) {}

  /**
   * One API call. A 2xx answer must be JSON of the expected shape (`expect`): a wrong --url (the
   * sidecar's port, a proxy's login page) answers 200 with HTML, and that must be an error (exit 1),
   * never a crash or a reported success.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    opts: { query?: Record<string, string | number | undefined>; body?: unknown; expect?: (data: unknown) => boolean } = {},
  ): Promise<T> {
    const url = new URL(this.options.url + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    // the analyzer keeps [A-Za-z0-9._@+-] of it anyway; a name outside Latin-1 (José is fine, 李 is
    // not) would make fetch throw before sending, reported as an unreachable analyzer
    if (this.options.operator) headers['x-operator'] = this.options.operator.trim().slice(0, 64).replace(/[^A-Za-z0-9._@+-]/g, '_');
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? ((err as Error).name === 'TimeoutError' ? 'no answer in time' : (cause?.message ?? (err as Error).message));
      throw new ApiError(0, 'network', `cannot reach the analyzer at ${this.options.url} (${why}); set --url or RW_ANALYZER_URL`);
    }
    const text = await res.text();
    let data: unknown = null;
    let json = false;
    try {
      data = text ? JSON.parse(text) : null;
      json = text !== '';
    } catch {
      data = null;
    }
    const type = (res.headers.get('content-type') ?? 'no content type').split(';')[0]!.trim();
    if (!res.ok) {
      const p = (data !== null && typeof data === 'object' ? data : {}) as { error?: string; detail?: string; title?: string; errors?: Array<{ path: string; message: string }> };
      // a problem+json body says what went wrong; anything else (a proxy's 502 page) is named as such
      let message = (typeof p.detail === 'string' && p.detail) || (typeof p.title === 'string' && p.title) || `${res.statusText || 'error'} from ${url.origin}${url.pathname} (${json ? 'JSON' : type}, not the operator API's problem+json)`;
      if (res.status === 401 && !this.options.token) message += ' — set RW_ADMIN_TOKEN or pass --token-file';
      throw new ApiError(res.status, typeof p.error === 'string' ? p.error : 'http_error', message, Array.isArray(p.errors) ? p.errors : []);
    }
    if (!json || data === null || typeof data !== 'object' || (opts.expect && !opts.expect(data))) {
      throw new ApiError(
        res.status,
        'bad_answer',
        `${url.origin}${url.pathname} did not answer as the operator API does (${json ? 'unexpected JSON' : `not JSON: ${type}`}); is ${this.options.url} the analyzer (default port 9090, not the sidecar's)?`,
      );
    }
    return data as T;
  }
}
