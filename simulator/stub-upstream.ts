/**
 * A tiny upstream API for demos, tests and benchmarks (node:http, no framework, so it is never the
 * bottleneck). It answers the simulated routes through routes.ts `statusFor` — 401 for a wrong
 * password, 404 for deleted item ids, 400/422 for bad requests — with small JSON bodies.
 *
 * Latency: none by default; `latencyMs` adds a fixed delay; `routeLatency` draws each answer's delay
 * from the route's log-normal (seeded). The fixed-capacity mode models a backend with `workers`
 * parallel slots of `serviceMs` each and a bounded queue: latency rises with concurrency as the queue
 * fills, and past the queue the stub answers 503 at once — what the load experiment pushes against.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rng, type Seed } from './random.js';
import { ITEM_COUNT, PAGE_SIZE, ROUTES, resolveRoute, statusFor, type ResolvedRoute } from './routes.js';

export interface StubCapacity {
  /** Requests served in parallel. */
  readonly workers: number;
  /** Service time of one request, ms (log-normal jitter of sigma 0.2 around it). */
  readonly serviceMs: number;
  /** Requests allowed to wait for a worker; more are answered 503 immediately. */
  readonly queueLimit: number;
}

export interface StubUpstreamOptions {
  readonly host?: string;
  /** 0 (default): any free port. */
  readonly port?: number;
  /** Fixed delay added to every answer, ms (default 0). */
  readonly latencyMs?: number;
  /** Draw each answer's delay from its route's latency distribution, scaled by this (e.g. 1; default 0 = off). */
  readonly routeLatency?: number;
  /** Share of requests answered 500 whatever they asked (default 0). */
  readonly errorRate?: number;
  readonly seed?: Seed;
  /** Fixed-capacity mode. */
  readonly capacity?: StubCapacity;
  /** Largest request body read, bytes (default 64 KiB); larger bodies get 413. */
  readonly maxBodyBytes?: number;
}

export interface StubStats {
  readonly requests: number;
  readonly byStatus: Readonly<Record<string, number>>;
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Answered 503 because the capacity queue was full. */
  readonly shed: number;
}

export interface StubUpstream {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  stats(): StubStats;
  close(): Promise<void>;
}

const NOT_FOUND = '{"error":"not_found"}';
const BAD_REQUEST = '{"error":"bad_request"}';

function answerBody(route: ResolvedRoute, status: number, query: Record<string, string>, body: Record<string, unknown> | null): string {
  if (status >= 500) return '{"error":"internal"}';
  switch (status) {
    case 401:
      return '{"error":"invalid_credentials"}';
    case 404:
      return NOT_FOUND;
    case 400:
    case 422:
      return BAD_REQUEST;
  }
  switch (route.name) {
    case 'items.get':
      return `{"id":${route.id},"name":"item-${route.id}","price":${(route.id! % 997) + 0.99},"stock":${route.id! % 50}}`;
    case 'items.list': {
      const page = Number(query.page ?? 1);
      const first = (page - 1) * PAGE_SIZE + 1;
      const ids: number[] = [];
      for (let id = first; id < first + PAGE_SIZE && id <= ITEM_COUNT; id++) ids.push(id);
      return `{"page":${page},"items":[${ids.join(',')}]}`;
    }
    case 'search':
      return `{"q":${JSON.stringify(query.q)},"results":[${(query.q!.length * 7919) % ITEM_COUNT},${(query.q!.length * 104729) % ITEM_COUNT}]}`;
    case 'login':
      return `{"token":"t-${String(body?.user ?? '').length}"}`;
    case 'graphql':
      return '{"data":{}}';
    case 'reports.create':
      return '{"id":4242,"status":"queued"}';
    case 'reports.get':
      return `{"id":${route.id},"rows":[]}`;
    case 'orders.create':
      return '{"id":1,"status":"created"}';
    case 'me':
      return '{"id":"me","plan":"free"}';
  }
}

function parseQuery(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text) for (const [k, v] of new URLSearchParams(text)) out[k] ??= v;
  return out;
}

export async function startStubUpstream(options: StubUpstreamOptions = {}): Promise<StubUpstream> {
  const rng = new Rng(options.seed ?? 'stub-upstream');
  const byStatus: Record<string, number> = {};
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let shed = 0;
  const maxBody = options.maxBodyBytes ?? 64 * 1024;
  const capacity = options.capacity;
  let busy = 0;
  const queue: Array<() => void> = [];

  const answered = new WeakSet<ServerResponse>();

  function finish(res: ServerResponse, status: number, text: string): void {
    if (answered.has(res)) return;
    answered.add(res);
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    inFlight--;
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function delayFor(route: ResolvedRoute | null): number {
    let ms = options.latencyMs ?? 0;
    if (options.routeLatency && route) {
      const l = ROUTES[route.name].latency;
      ms += rng.logNormal(l.median, l.sigma) * options.routeLatency;
    }
    return ms;
  }

  /** Runs `serve` in a worker slot (capacity mode), or at once. */
  function schedule(res: ServerResponse, serve: (extraDelayMs: number) => void): void {
    if (!capacity) return serve(0);
    const run = (): void => {
      busy++;
      const serviceMs = rng.logNormal(capacity.serviceMs, 0.2);
      setTimeout(() => {
        busy--;
        serve(0);
        const next = queue.shift();
        if (next) next();
      }, serviceMs);
    };
    if (busy < capacity.workers) run();
    else if (queue.length < capacity.queueLimit) queue.push(run);
    else {
      shed++;
      finish(res, 503, '{"error":"overloaded"}');
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse, rawBody: string | null): void {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = parseQuery(q < 0 ? '' : target.slice(q + 1));
    const method = req.method ?? 'GET';
    if (path === '/healthz') return finish(res, 200, '{"ok":true}');
    const route = resolveRoute(method, path);
    if (!route) return finish(res, 404, NOT_FOUND);
    let body: Record<string, unknown> | null = null;
    if (rawBody) {
      try {
        const parsed: unknown = JSON.parse(rawBody);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
      } catch {
        body = null;
      }
    }
    let status = statusFor(route, query, body);
    if (options.errorRate && rng.float() < options.errorRate) status = 500;
    const text = answerBody(route, status, query, body);
    schedule(res, () => {
      const delay = delayFor(route);
      if (delay > 0) setTimeout(() => finish(res, status, text), delay);
      else finish(res, status, text);
    });
  }

  const server = createServer((req, res) => {
    requests++;
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    if (req.method === 'GET' || req.method === 'HEAD') {
      req.resume();
      return handle(req, res, null);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) return finish(res, 413, '{"error":"too_large"}');
      handle(req, res, chunks.length ? Buffer.concat(chunks).toString('utf8') : null);
    });
    req.on('error', () => finish(res, 400, BAD_REQUEST));
  });
  // longer than a proxy's idle pool timeout, so a reused upstream connection is not closed under it
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 31_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    server,
    stats: () => ({ requests, byStatus: { ...byStatus }, inFlight, maxInFlight, shed }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
