/**
 * Reading the GraphQL request for a rule with a GraphQL cost — the one case where the sidecar
 * looks at a body before deciding. The body is read up to a bound (then forwarded from the buffer);
 * anything larger is refused rather than held in memory.
 */
import type { IncomingMessage } from 'node:http';
import { queryParam } from './identity/apiKey.js';
import { type GraphqlOperationRequest, type GraphqlPricedRequest } from './engine/graphqlCost.js';

export const MAX_GRAPHQL_BODY = 1024 * 1024;

/** One operation, or a batch (`batch` set; see engine/graphqlCost.ts, which prices and bounds it). */
export type GraphqlRequest = GraphqlPricedRequest;

/** Reads the whole body if it is at most `limit` bytes; null when it is larger (the stream is then left partly read). */
export function readBody(req: IncomingMessage, limit = MAX_GRAPHQL_BODY): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onAborted = (): void => onError(new Error('request aborted'));
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
