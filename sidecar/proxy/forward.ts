/**
 * The forwarding path: one undici Pool (keep-alive connections to the one upstream) and a dispatch
 * handler that streams both ways with backpressure — request body chunks go out as they arrive,
 * response chunks are written to the client as they come and the upstream socket pauses while the
 * client is slow. Nothing is buffered whole. This lean path measured faster than
 * @fastify/reply-from (bench/sidecar/run.ts) because it skips its request/response object layers.
 *
 * Upstream failures become problem+json answers: 504 when the upstream did not answer in time
 * (connect, headers or body idle timeout), 502 for everything else. They are the upstream's fault,
 * reported in the event with their status, never a reason to limit the client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { badGateway, badRequest, gatewayTimeout, sendProblem, type HeaderList } from '../answers/index.js';
import { clientResponseHeaders } from './headers.js';

/**
 * `protocol`: the upstream answered something that is not HTTP/1.1 (undici's parser refused it, or
 * its body broke its own Content-Length).
 * `invalid`: undici refused to send the request as it came (two Host lines, RFC 9112 §3.2): the
 * client's fault, answered 400 by the sidecar itself, the upstream never asked.
 */
export type UpstreamFailure = 'connect' | 'timeout' | 'reset' | 'aborted' | 'invalid' | 'protocol';

export interface ForwardResult {
  readonly status: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Ms from dispatch to response headers (null when none came). */
  readonly upstreamMs: number | null;
  readonly failure: UpstreamFailure | null;
}

export interface ForwardInput {
  readonly method: string;
  /** Request target as received (path and query, untouched). */
  readonly url: string;
  /** Upstream request headers (see upstreamRequestHeaders). */
  readonly headers: string[];
  readonly body: Readable | Buffer | null;
  /** Headers appended to the client's response (rate-limit headers). */
  readonly responseHeaders: HeaderList;
}

export interface UpstreamOptions {
  /** Keep-alive connections in the pool. */
  readonly connections: number;
  /** Headers timeout and body idle timeout (policy `upstream.timeout`). */
  readonly timeoutMs: number;
  readonly connectTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

export function failureOf(err: Error): UpstreamFailure {
  const code = (err as { code?: string }).code ?? '';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (code === 'UND_ERR_ABORTED' || err.name === 'AbortError') return 'aborted';
  if (CONNECT_CODES.has(code)) return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' ? 'reset' : 'connect';
  // an answer that is not HTTP: the upstream (or what listens on its port) is broken, not unreachable
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || err.name === 'HTTPParserError') return 'protocol';
  return 'connect';
}

/**
 * Whether the answer is a 502/504 the sidecar made because the upstream never answered (refused,
 * reset or timed out before its response headers): such a request is refunded, never counted
 * against the client. Once the upstream has answered — an error status of its own, or a failure
 * in the middle of its body — the request counts; a client that went away counts too. A request
 * undici refused to send (`invalid`, answered 400) never reached the upstream either: refunded.
 */
export function upstreamNeverAnswered(r: ForwardResult): boolean {
  return r.upstreamMs === null && r.failure !== null && r.failure !== 'aborted';
}

export class UpstreamProxy {
  readonly pool: Pool;
  private readonly basePath: string;
  timeoutMs: number;
  /**
   * Set when the sidecar drains: every answer from then on carries `Connection: close` and ends its
   * client connection, so no client reuses a connection about to be closed under it.
   */
  draining = false;

  constructor(
    readonly upstream: URL,
    opts: UpstreamOptions,
  ) {
    this.timeoutMs = opts.timeoutMs;
    this.basePath = upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/$/, '');
    this.pool = new Pool(upstream.origin, {
      connections: opts.connections,
      pipelining: 1,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 4_000,
      connect: { timeout: opts.connectTimeoutMs ?? Math.min(opts.timeoutMs, 5_000) },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  }

  /**
   * Streams the request to the upstream and its answer to `res`; calls `done` exactly once, when the
   * exchange is over (the response body ended, or failed). `onHeaders`, when given, is called at most
   * once, before `done`, as soon as the upstream's final response headers arrived (status ≥ 200) and
   * were passed to the client, with the ms from dispatch to them: the upstream has answered, even if
   * its body streams for minutes (the adaptive concurrency permit is settled there).
   */
  forward(res: ServerResponse, input: ForwardInput, done: (result: ForwardResult) => void, onHeaders?: (status: number, upstreamMs: number) => void): void {
    const handler = new ForwardHandler(this, res, input.responseHeaders, done, onHeaders ?? null);
    res.once('close', handler.onClientClose);
    const opts: Dispatcher.DispatchOptions = {
      method: input.method as Dispatcher.HttpMethod,
      path: this.basePath + input.url,
      headers: input.headers,
      body: input.body,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    };
    handler.started = performance.now();
    try {
      this.pool.dispatch(opts, handler as unknown as Dispatcher.DispatchHandler);
    } catch (err) {
      handler.onError(err as Error);
    }
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => undefined);
  }

  destroy(): Promise<void> {
    return this.pool.destroy().catch(() => undefined);
  }
}

/** Never mutated (sendProblem only reads `extra`). */
const CLOSE: HeaderList = ['connection', 'close'];

/** How long a connection answered before its upload was over keeps reading (and discarding) it. */
export const LINGER_MS = 5_000;

/**
 * Lingering close (nginx's lingering_close): an answer sent before the request body is over ends
 * the connection, but closing a socket with unread upload bytes makes the kernel send a reset, and
 * the client may lose the answer it has not read yet. So once the answer is out, the sidecar only
 * half-closes (FIN), reads and discards what the client still sends, and closes when the client
 * does, or after LINGER_MS.
 */
export function lingerAfter(res: ServerResponse): void {
  const socket = res.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket || socket.destroyed) return;
  const req = res.req;
  // Node's server calls destroySoon() once an answer with Connection: close is written
  socket.destroySoon = function lingeringClose(this: Socket): void {
    req.resume();
    this.resume();
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    this.once('end', () => this.destroy());
  };
}

/** Whether raw response headers carry a Content-Length other than 0. */
function declaresLength(raw: readonly Buffer[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 14 && n.toString('latin1').toLowerCase() === 'content-length') return raw[i + 1]!.toString('latin1').trim() !== '0';
  }
  return false;
}

const PRINTABLE = /^[\t\x20-\x7e]*$/;
const WRITABLE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The upstream's reason phrase as Node can write it, or '' for the standard one. undici decodes the
 * phrase's bytes as UTF-8, and Node writes it one byte per character, refusing characters above
 * U+00FF and control characters: a phrase with obs-text (RFC 9112 §4; a Latin-1 or UTF-8 one) made
 * writeHead throw and the client got no answer at all. UTF-8 goes back to its own bytes; bytes that
 * were not UTF-8 (decoded as U+FFFD) or control characters give the standard phrase.
 */
function reasonPhrase(text: string): string {
  if (PRINTABLE.test(text)) return text;
  if (text.includes('\ufffd')) return '';
  const bytes = Buffer.from(text, 'utf8').toString('latin1');
  return WRITABLE.test(bytes) ? bytes : '';
}

/** undici's (fast, unwrapped) handler protocol: onConnect, onHeaders, onData, onComplete, onError. */
class ForwardHandler {
  started = 0;
  private status = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private upstreamMs: number | null = null;
  private abort: ((err?: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private finished = false;
  private drainListening = false;

  constructor(
    private readonly proxy: UpstreamProxy,
    private readonly res: ServerResponse,
    private readonly extraHeaders: HeaderList,
    private readonly done: (result: ForwardResult) => void,
    private readonly headersArrived: ((status: number, upstreamMs: number) => void) | null,
  ) {}

  readonly onClientClose = (): void => {
    // the client went away before the answer was complete: stop the upstream exchange too
    if (!this.finished && !this.res.writableFinished) {
      this.abort?.(Object.assign(new Error('client closed the connection'), { code: 'UND_ERR_ABORTED' }));
      this.finish(null, 'aborted');
    }
  };

  private readonly onDrain = (): void => {
    this.drainListening = false;
    this.resume?.();
  };

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.finished) abort();
  }

  onBodySent(chunk: Buffer | number): void {
    this.bytesIn += typeof chunk === 'number' ? chunk : chunk.length;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx interim answers are not relayed
    if (this.finished) return false;
    this.upstreamMs = performance.now() - this.started;
    this.status = statusCode;
    this.resume = resume;
    const headers = clientResponseHeaders(rawHeaders, this.extraHeaders);
    // the upstream answers before the request body is over (a 413 or 401 on sight of the headers):
    // undici stops reading it once the answer is complete, so the connection cannot serve another
    // request — it ends after this answer (as nginx does), else it would hang, paused, for ever
    if (!this.res.req.complete) {
      headers.push('connection', 'close');
      lingerAfter(this.res);
    } else if (this.proxy.draining) headers.push('connection', 'close');
    const reason = reasonPhrase(statusText);
    if (reason) this.res.writeHead(statusCode, reason, headers);
    else this.res.writeHead(statusCode, headers);
    this.headersArrived?.(statusCode, this.upstreamMs);
    if ((statusCode === 304 || statusCode === 204) && declaresLength(rawHeaders)) {
      // never a body (RFC 9112 §6.3), but undici takes the Content-Length (a 304 may carry the
      // representation's, RFC 9110 §8.6) as framing and would wait for bytes that never come: the
      // answer is complete now, and the upstream connection, whose framing is now unknown, is closed
      this.res.end();
      this.finish(null, null);
      this.abort?.();
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    const ok = this.res.write(chunk);
    if (!ok && !this.drainListening) {
      this.drainListening = true;
      this.res.once('drain', this.onDrain);
    }
    return ok;
  }

  onComplete(_trailers: string[] | null): void {
    this.res.end();
    this.finish(null, null);
  }

  onError(err: Error): void {
    if (this.finished) return;
    // an argument error before any connection is undici refusing the request itself (synchronously, in dispatch)
    const failure = this.abort === null && (err as { code?: string }).code === 'UND_ERR_INVALID_ARG' ? 'invalid' : failureOf(err);
    if (!this.res.headersSent && !this.res.destroyed) {
      const problem = failure === 'timeout' ? gatewayTimeout() : failure === 'invalid' ? badRequest(`the request cannot be forwarded: ${err.message}`) : badGateway();
      this.status = problem.status;
      if (!this.res.req.complete) lingerAfter(this.res);
      // a writeHead that threw (an upstream header Node cannot write) left its status message behind
      this.res.statusMessage = '';
      try {
        this.bytesOut += sendProblem(this.res, problem, this.extraHeaders.slice(), this.res.req.complete && !this.proxy.draining ? undefined : CLOSE);
      } catch (e) {
        this.res.destroy(e as Error);
      }
    } else {
      // mid-body failure: the only honest signal left is to cut the client connection
      this.res.destroy(err);
    }
    this.finish(null, failure);
  }

  private finish(_err: Error | null, failure: UpstreamFailure | null): void {
    if (this.finished) return;
    this.finished = true;
    this.res.off('close', this.onClientClose);
    this.done({ status: this.status || (failure === 'aborted' ? 499 : 502), bytesIn: this.bytesIn, bytesOut: this.bytesOut, upstreamMs: this.upstreamMs, failure });
  }
}
