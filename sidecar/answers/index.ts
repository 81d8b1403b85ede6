/**
 * Answers the sidecar gives itself (429, 403, 400, 401, 408, 413, 501, 502, 503, 504): status, the rate-limit
 * headers the request earned, Retry-After when there is one, and a problem+json body. Written
 * straight to the Node response in one writeHead/end — no serializer on this path.
 */
import type { ServerResponse } from 'node:http';
import { PROBLEM_CONTENT_TYPE, type Problem } from './problems.js';
import type { HeaderList } from './rateLimitHeaders.js';

export * from './problems.js';
export * from './rateLimitHeaders.js';

/** Writes the problem answer; returns the body length (bytes out). */
export function sendProblem(res: ServerResponse, problem: Problem, headers: HeaderList, extra?: HeaderList): number {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return 0;
  }
  const body = Buffer.from(problem.body, 'utf8');
  headers.push('content-type', PROBLEM_CONTENT_TYPE, 'content-length', String(body.length), 'cache-control', 'no-store');
  if (problem.retryAfter !== null) headers.push('retry-after', String(problem.retryAfter));
  if (extra) for (const h of extra) headers.push(h);
  res.writeHead(problem.status, headers);
  res.end(body);
  return body.length;
}
