/**
 * Serves the operator web UI from the analyzer itself (no extra server, no build step): plain ES
 * modules and CSS from analyzer/ui/static/, and uPlot from node_modules for the charts, so it works
 * offline. Files are read once at start into a fixed table — a request can only ever get one of
 * those files, never a path it made up. The UI needs no token to load; it asks for one and sends
 * it to /api as a bearer header.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

/**
 * Scripts only from this origin; uPlot sets element styles, hence 'unsafe-inline' for styles only.
 * No framing (click-jacking on the one-click buttons), no referrer (the fragment never leaks anyway).
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** analyzer/ui/static next to this file (tsx), or from dist/analyzer/ui/ back to the package's copy. */
export function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'static'), join(here, '..', '..', '..', 'analyzer', 'ui', 'static')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  throw new Error(`operator UI files not found next to ${here}`);
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

export function loadAssets(dir = staticDir()): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of walk(dir)) {
    const type = TYPES[extname(file)];
    if (!type) continue;
    assets.set(relative(dir, file).split(sep).join('/'), { body: readFileSync(file), type });
  }
  const require = createRequire(import.meta.url);
  assets.set('vendor/uPlot.esm.js', { body: readFileSync(require.resolve('uplot/dist/uPlot.esm.js')), type: TYPES['.js']! });
  assets.set('vendor/uPlot.min.css', { body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')), type: TYPES['.css']! });
  return assets;
}

export interface OperatorUiOptions {
  /** Serve `/` as a redirect to `/ui/` (default true). */
  readonly redirectRoot?: boolean;
}

export const operatorUi: FastifyPluginAsync<OperatorUiOptions> = async (app, options) => {
  const assets = loadAssets();
  const index = assets.get('index.html')!;

  const send = (asset: Asset, reply: import('fastify').FastifyReply) =>
    reply
      .type(asset.type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(asset.body);

  if (options.redirectRoot !== false) app.get('/', async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui', async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui/', async (_req, reply) => send(index, reply));
  app.get('/ui/*', async (request, reply) => {
    const path = (request.params as { '*': string })['*'];
    const asset = assets.get(path);
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    return send(asset, reply);
  });
};
