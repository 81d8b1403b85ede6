/**
 * Reading the GraphQL request for a rule with a GraphQL cost — the one case where the sidecar
 * looks at a body before deciding. The body is read up to a bound (then forwarded from the buffer);
 * anything larger is refused rather than held in memory.
 */
import type { IncomingMessage } from 'node:http';
import { queryParam } from './identity/apiKey.js';

export const MAX_GRAPHQL_BODY = 1024 * 1024;

export type GraphqlRequest = { readonly query: string; readonly operationName?: string | null; readonly variables?: Readonly<Record<string, unknown>> | null };

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

/** The GraphQL request of a GET (`query` parameter) or a POST (JSON `{query, operationName}` or application/graphql); null when none. */
export function graphqlRequest(method: string, url: string, contentType: string | undefined, body: Buffer | null): GraphqlRequest | null {
  if (method === 'GET' || method === 'HEAD') {
    const query = queryParam(url, 'query');
    return query ? { query, operationName: queryParam(url, 'operationName'), variables: jsonObject(queryParam(url, 'variables')) } : null;
  }
  if (body === null || body.length === 0) return null;
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('application/graphql')) return { query: body.toString('utf8') };
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const o = parsed as { query?: unknown; operationName?: unknown; variables?: unknown };
      if (typeof o.query === 'string') {
        const variables = o.variables && typeof o.variables === 'object' && !Array.isArray(o.variables) ? (o.variables as Record<string, unknown>) : null;
        return { query: o.query, operationName: typeof o.operationName === 'string' ? o.operationName : null, variables };
      }
    }
  } catch {
    // not JSON: no GraphQL request (the engine decides what that costs)
  }
  return null;
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
