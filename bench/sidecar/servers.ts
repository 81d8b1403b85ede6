/**
 * The servers the sidecar benchmark compares, each started as its own process by bench/sidecar/run.ts:
 *
 *   upstream                 plain node:http "hello" (the app behind every proxy)
 *   http-proxy               @fastify/http-proxy, no limiter
 *   http-proxy+rate-limit    @fastify/http-proxy + @fastify/rate-limit with its Redis store
 *   http-proxy+rlf           @fastify/http-proxy + rate-limiter-flexible (RateLimiterRedis)
 *   undici-proxy             the floor of a Node proxy: node:http + one undici Pool, no framework, no
 *                            limiter, no X-Forwarded-*, no header filtering (not a product: what any
 *                            proxy on node:http and undici costs before doing anything of its own)
 *
 * (ratewarden itself runs as the real `ratewarden sidecar` command.) Usage:
 *   node servers.js CASE --port P [--upstream URL] [--redis URL] [--limit N]
 * Prints one JSON line `{"ready":true,"port":P}` when listening.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const BODY = Buffer.from('{"hello":"world"}');

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' }, redis: { type: 'string' }, limit: { type: 'string', default: '1000000000' } },
  });
  const kind = positionals[0];
  const port = Number(values.port);
  const limit = Number(values.limit);
  let bound: number;
  switch (kind) {
    case 'upstream': {
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
        res.end(BODY);
      });
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      bound = (server.address() as AddressInfo).port;
      break;
    }
    case 'http-proxy':
    case 'http-proxy+rate-limit':
    case 'http-proxy+rlf': {
      const { fastify } = await import('fastify');
      const proxy = (await import('@fastify/http-proxy')).default;
      const app = fastify({ logger: false });
      if (kind === 'http-proxy+rate-limit') {
        const { Redis } = await import('ioredis');
        const rateLimit = (await import('@fastify/rate-limit')).default;
        const redis = new Redis(values.redis!, { connectTimeout: 500, maxRetriesPerRequest: 1 });
        await app.register(rateLimit, { max: limit, timeWindow: 1000, redis, nameSpace: `bench-frl-${process.pid}-` });
      }
      if (kind === 'http-proxy+rlf') {
        const { Redis } = await import('ioredis');
        const { RateLimiterRedis } = await import('rate-limiter-flexible');
        const redis = new Redis(values.redis!, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
        const limiter = new RateLimiterRedis({ storeClient: redis, points: limit, duration: 1, keyPrefix: `bench-rlf-${process.pid}` });
        app.addHook('onRequest', async (req, reply) => {
          try {
            await limiter.consume(req.ip);
          } catch {
            return reply.code(429).send({ error: 'rate_limited' });
          }
        });
      }
      await app.register(proxy, { upstream: values.upstream!, undici: { connections: 128, pipelining: 1 } });
      await app.listen({ host: '127.0.0.1', port });
      bound = (app.server.address() as AddressInfo).port;
      break;
    }
    case 'undici-proxy': {
      const { Pool } = await import('undici');
      const pool = new Pool(values.upstream!, { connections: 128, pipelining: 1 });
      const server = createServer((req, res) => {
        const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
        pool.request({ method: req.method as 'GET', path: req.url ?? '/', headers: req.headers, body }).then(
          (r) => {
            res.writeHead(r.statusCode, r.headers);
            r.body.pipe(res);
          },
          () => {
            res.statusCode = 502;
            res.end();
          },
        );
      });
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      bound = (server.address() as AddressInfo).port;
      break;
    }
    default:
      process.stderr.write(`unknown case ${kind}\n`);
      process.exit(2);
  }
  process.stdout.write(JSON.stringify({ ready: true, port: bound }) + '\n');
}

void main();
