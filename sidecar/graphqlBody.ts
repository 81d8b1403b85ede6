/**
 * Reading the GraphQL request for a rule with a GraphQL cost — the one case where the sidecar
 * looks at a body before deciding. The body is read up to a bound (then forwarded from the buffer);
 * anything larger is refused rather than held in memory, and so is a body that does not arrive
 * within a deadline or does not fit in what all the bodies being held may take together.
 */
import type { IncomingMessage } from 'node:http';
import { queryParam } from './identity/apiKey.js';
import { type GraphqlOperationRequest, type GraphqlPricedRequest } from './engine/graphqlCost.js';

export const MAX_GRAPHQL_BODY = 1024 * 1024;
/** How long a body the sidecar reads may take to arrive in full (from the first read: after `100 Continue`). */
export const GRAPHQL_BODY_TIMEOUT_MS = 30_000;
/** Bytes the bodies being read or held for pricing may take together (a sidecar's whole budget). */
export const MAX_GRAPHQL_BODIES_BUFFERED = 64 * 1024 * 1024;
/** The first buffer of a body of unknown (or larger) length; it doubles as the body arrives. */
const FIRST_CAPACITY = 16 * 1024;

/** One operation, or a batch (`batch` set; see engine/graphqlCost.ts, which prices and bounds it). */
export type GraphqlRequest = GraphqlPricedRequest;

/**
 * The bytes held by bodies read for pricing, across all requests: each body takes the capacity of
 * its buffer when it grows, and gives it back when refused or when its request is done
 * (Exchange.finish) — a body is held until forwarded from its buffer.
 */
export class BodyBudget {
  held = 0;
  constructor(
    readonly maxBytes = MAX_GRAPHQL_BODIES_BUFFERED,
    readonly timeoutMs = GRAPHQL_BODY_TIMEOUT_MS,
  ) {}

  take(n: number): boolean {
    if (this.held + n > this.maxBytes) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held -= n;
  }
}

/** Why a body was not read: over `limit`, not in full within the budget's timeout, or no room left in the budget. */
export type BodyRefusal = 'too_large' | 'timeout' | 'buffer_full';

/** A body read: `held` bytes of the budget are the caller's to give back. */
export interface BodyRead {
  readonly body: Buffer;
  readonly held: number;
}

/** The refusal a request's headers already call for (a declared length over `limit`, or more than the budget has left); null to read it. */
export function bodyRefusedOnSight(req: IncomingMessage, limit: number, budget: BodyBudget): BodyRefusal | null {
  const declared = Number(req.headers['content-length']);
  // no length: a chunked body (refused only when the budget is spent), or no body at all (a GET)
  if (!Number.isFinite(declared)) return req.headers['transfer-encoding'] !== undefined && budget.held >= budget.maxBytes ? 'buffer_full' : null;
  if (declared > limit) return 'too_large';
  return budget.held + declared > budget.maxBytes ? 'buffer_full' : null;
}

/**
 * Reads the whole body if it is at most `limit` bytes, arrives in full within `budget.timeoutMs`
 * and fits in what the budget has left; otherwise the refusal (the stream is then left partly read
 * and paused). The bytes are copied into one buffer as they come, so a body sent a byte at a time
 * holds its length, not a Buffer object per byte (it held ~200 bytes of heap per byte).
 */
export function readBody(req: IncomingMessage, limit = MAX_GRAPHQL_BODY, budget = new BodyBudget()): Promise<BodyRead | BodyRefusal> {
  return new Promise((resolve, reject) => {
    const refused = bodyRefusedOnSight(req, limit, budget);
    if (refused !== null) {
      resolve(refused);
      return;
    }
    const declared = Number(req.headers['content-length']);
    const most = Number.isFinite(declared) ? declared : limit;
    let buf: Buffer | null = null;
    let size = 0;
    let held = 0;
    const stop = (why: BodyRefusal): void => {
      cleanup();
      req.pause();
      budget.give(held);
      held = 0;
      buf = null;
      resolve(why);
    };
    const onData = (chunk: Buffer): void => {
      const need = size + chunk.length;
      if (need > limit) return stop('too_large');
      if (buf === null || need > buf.length) {
        const capacity = Math.max(need, Math.min(most, Math.max(buf === null ? FIRST_CAPACITY : buf.length * 2, need)));
        if (!budget.take(capacity - held)) return stop('buffer_full');
        const next = Buffer.allocUnsafeSlow(capacity);
        if (buf !== null) buf.copy(next, 0, 0, size);
        buf = next;
        held = capacity;
      }
      chunk.copy(buf, size);
      size = need;
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ body: buf === null ? Buffer.alloc(0) : buf.subarray(0, size), held });
    };
    const onError = (err: Error): void => {
      cleanup();
      budget.give(held);
      held = 0;
      reject(err);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onAborted = (): void => onError(new Error('request aborted'));
    // a deadline for the whole body, not an idle timeout: a byte every few seconds must not hold it for ever
    const timer = setTimeout(() => stop('timeout'), budget.timeoutMs);
    timer.unref();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * The GraphQL request of a GET (`query` parameter) or a POST (JSON `{query, operationName}`, a JSON
 * array of those — a batch —, an application/graphql body, or the `query`, `operationName` and
 * `variables` fields of an application/x-www-form-urlencoded body); null when none (no query: one
 * unit, e.g. a persisted-query hash). A POST whose body the sidecar cannot read as the GraphQL
 * server would is refused rather than priced as one unit (`unpriceable`): a compressed body
 * (servers inflate it), a charset other than UTF-8 (servers decode it), a body that is not JSON
 * under any other media type (multipart uploads too), or a `query` in the URL too (servers may
 * prefer it).
 */
export function graphqlRequest(method: string, url: string, contentType: string | undefined, body: Buffer | null, contentEncoding?: string): GraphqlRequest | null {
  if (method === 'GET' || method === 'HEAD') {
    const query = queryParam(url, 'query');
    return query ? { query, operationName: queryParam(url, 'operationName'), variables: jsonObject(queryParam(url, 'variables')) } : null;
  }
  if (queryParam(url, 'query') !== null) return unpriceable('a POST with a GraphQL query in its URL cannot be priced: send the query in the body only');
  if (body === null || body.length === 0) return null;
  const encoding = contentEncoding?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') return unpriceable(`a GraphQL request body with Content-Encoding ${JSON.stringify(contentEncoding)} cannot be priced: send it uncompressed`);
  const charset = charsetOf(contentType);
  if (charset !== null && charset !== 'utf-8' && charset !== 'utf8') return unpriceable(`a GraphQL request body in charset ${JSON.stringify(charset)} cannot be priced: send it as UTF-8`);
  // the media type exactly (a prefix test took application/graphql-response+json for a raw query)
  const type = mediaType(contentType);
  if (type === 'application/graphql') return { query: body.toString('utf8') };
  if (type === 'application/x-www-form-urlencoded') {
    // an HTML form's encoding, which express-graphql and other servers accept like a GET's parameters
    const form = new URLSearchParams(body.toString('utf8'));
    const query = form.get('query');
    return query ? { query, operationName: form.get('operationName'), variables: jsonObject(form.get('variables')) } : null;
  }
  let parsed: unknown;
  try {
    // a leading BOM is dropped as servers' body parsers do
    const text = body.toString('utf8');
    parsed = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
  } catch {
    // (multipart uploads included: their operations are not read)
    return unpriceable(`a GraphQL request body that is not JSON${type ? ` (${type})` : ''} cannot be priced: send application/json, application/graphql or a form`);
  }
  if (Array.isArray(parsed)) {
    // a batch: every operation is priced, and more than MAX_GRAPHQL_BATCH refused, by engine/graphqlCost.ts
    return { query: '', batch: parsed.map(operation) };
  }
  return operation(parsed);
}

function unpriceable(reason: string): GraphqlRequest {
  return { query: '', unpriceable: reason };
}

/** The `charset` parameter of a Content-Type, lower-cased and unquoted; null when absent. */
function charsetOf(contentType: string | undefined): string | null {
  if (contentType === undefined) return null;
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  return m ? m[1]!.toLowerCase() : null;
}

function operation(parsed: unknown): GraphqlOperationRequest | null {
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const o = parsed as { query?: unknown; operationName?: unknown; variables?: unknown };
  if (typeof o.query !== 'string') return null;
  const variables = o.variables && typeof o.variables === 'object' && !Array.isArray(o.variables) ? (o.variables as Record<string, unknown>) : null;
  return { query: o.query, operationName: typeof o.operationName === 'string' ? o.operationName : null, variables };
}

/** `Application/GraphQL; charset=utf-8` → `application/graphql`. */
function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function jsonObject(text: string | null): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
