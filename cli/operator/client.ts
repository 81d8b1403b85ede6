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
  if (flags['token-file']) {
    try {
      token = readFileSync(flags['token-file'], 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--token-file: ${(err as Error).message}`);
    }
  }
  const url = (flags.url ?? env.RW_ANALYZER_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url must be http:// or https:// (got "${url}")`);
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

export class OperatorClient {
  constructor(private readonly options: ClientOptions) {}

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, opts: { query?: Record<string, string | number | undefined>; body?: unknown } = {}): Promise<T> {
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
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new ApiError(0, 'network', `cannot reach the analyzer at ${this.options.url} (${cause}); set --url or RW_ANALYZER_URL`);
    }
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const p = (data ?? {}) as { error?: string; detail?: string; title?: string; errors?: Array<{ path: string; message: string }> };
      let message = p.detail ?? p.title ?? `HTTP ${res.status}`;
      if (res.status === 401 && !this.options.token) message += ' — set RW_ADMIN_TOKEN or pass --token-file';
      throw new ApiError(res.status, p.error ?? 'http_error', message, p.errors ?? []);
    }
    return data as T;
  }
}
