/**
 * The simulated API: its routes, what a normal response costs (latency, bytes), and — as pure
 * functions — which status each request gets. The generator (events straight to Kafka) and the
 * stub upstream (real HTTP) both answer through `statusFor`, so a request shaped as a failed login
 * is a 401 whether it is simulated or sent, and an enumerated item id that does not exist is a 404
 * on both paths.
 */
import { hash32 } from './random.js';

export const ROUTE_NAMES = ['items.get', 'items.list', 'search', 'login', 'graphql', 'reports.create', 'reports.get', 'orders.create', 'me'] as const;
export type RouteName = (typeof ROUTE_NAMES)[number];

export interface RouteDef {
  readonly name: RouteName;
  readonly method: 'GET' | 'POST';
  /** Path template as operators know it. */
  readonly template: string;
  /** Log-normal latency of a successful answer (median ms, sigma). */
  readonly latency: { readonly median: number; readonly sigma: number };
  /** Log-normal size of a successful answer's body (median bytes, sigma). */
  readonly bytesOut: { readonly median: number; readonly sigma: number };
}

export const ROUTES: Readonly<Record<RouteName, RouteDef>> = {
  'items.get': { name: 'items.get', method: 'GET', template: '/api/items/:id', latency: { median: 12, sigma: 0.5 }, bytesOut: { median: 1_200, sigma: 0.4 } },
  'items.list': { name: 'items.list', method: 'GET', template: '/api/items', latency: { median: 35, sigma: 0.5 }, bytesOut: { median: 9_000, sigma: 0.5 } },
  search: { name: 'search', method: 'GET', template: '/api/search', latency: { median: 70, sigma: 0.6 }, bytesOut: { median: 5_000, sigma: 0.7 } },
  login: { name: 'login', method: 'POST', template: '/login', latency: { median: 150, sigma: 0.3 }, bytesOut: { median: 350, sigma: 0.1 } },
  graphql: { name: 'graphql', method: 'POST', template: '/graphql', latency: { median: 45, sigma: 0.7 }, bytesOut: { median: 2_500, sigma: 0.9 } },
  'reports.create': { name: 'reports.create', method: 'POST', template: '/reports', latency: { median: 300, sigma: 0.5 }, bytesOut: { median: 180, sigma: 0.1 } },
  'reports.get': { name: 'reports.get', method: 'GET', template: '/reports/:id', latency: { median: 90, sigma: 0.6 }, bytesOut: { median: 60_000, sigma: 1.0 } },
  'orders.create': { name: 'orders.create', method: 'POST', template: '/api/orders', latency: { median: 80, sigma: 0.4 }, bytesOut: { median: 600, sigma: 0.2 } },
  me: { name: 'me', method: 'GET', template: '/api/me', latency: { median: 8, sigma: 0.4 }, bytesOut: { median: 400, sigma: 0.1 } },
};

/** Items have ids 1..ITEM_COUNT with ~10% deleted (gaps), so walking ids sequentially meets 404s. */
export const ITEM_COUNT = 100_000;
export const REPORT_COUNT = 1_000_000;
export const PAGE_SIZE = 50;

export function itemExists(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id <= ITEM_COUNT && hash32(id) % 10 !== 7;
}

/** The first existing item at or after `id` (wrapping), for clients that follow valid links. */
export function nextExistingItem(id: number): number {
  let candidate = Math.min(Math.max(1, Math.floor(id)), ITEM_COUNT);
  while (!itemExists(candidate)) candidate = candidate >= ITEM_COUNT ? 1 : candidate + 1;
  return candidate;
}

/** The first deleted item id at or after `id` (a stale link). */
export function nextMissingItem(id: number): number {
  let candidate = Math.min(Math.max(1, Math.floor(id)), ITEM_COUNT);
  while (itemExists(candidate)) candidate = candidate >= ITEM_COUNT ? 1 : candidate + 1;
  return candidate;
}

export function reportExists(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id <= REPORT_COUNT && hash32(`r${id}`) % 20 !== 0;
}

/** The one password the stub accepts for `user` (leaked credential lists know some of them). */
export function passwordFor(user: string): string {
  return 'pw-' + hash32(`pw/${user}`).toString(36);
}

export interface ResolvedRoute {
  readonly name: RouteName;
  /** The numeric path parameter of `/api/items/:id` and `/reports/:id`. */
  readonly id?: number;
}

const ITEM_PATH = /^\/api\/items\/([^/]+)$/;
const REPORT_PATH = /^\/reports\/([^/]+)$/;

/** Which route a method and path (without query) hit, or null (the stub answers 404). */
export function resolveRoute(method: string, path: string): ResolvedRoute | null {
  if (method === 'GET') {
    if (path === '/api/items') return { name: 'items.list' };
    if (path === '/api/search') return { name: 'search' };
    if (path === '/api/me') return { name: 'me' };
    let m = ITEM_PATH.exec(path);
    if (m) return { name: 'items.get', id: Number(m[1]) };
    m = REPORT_PATH.exec(path);
    if (m) return { name: 'reports.get', id: Number(m[1]) };
    return null;
  }
  if (method === 'POST') {
    if (path === '/login') return { name: 'login' };
    if (path === '/graphql') return { name: 'graphql' };
    if (path === '/reports') return { name: 'reports.create' };
    if (path === '/api/orders') return { name: 'orders.create' };
  }
  return null;
}

type Query = Readonly<Record<string, string | undefined>>;

/** The status the API answers (before any server fault). `body` is the parsed JSON body, or null. */
export function statusFor(route: ResolvedRoute, query: Query, body: unknown): number {
  const b = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : null;
  switch (route.name) {
    case 'items.get':
      return itemExists(route.id ?? NaN) ? 200 : 404;
    case 'items.list': {
      const page = query.page === undefined ? 1 : Number(query.page);
      return Number.isInteger(page) && page >= 1 ? 200 : 400;
    }
    case 'search':
      return query.q ? 200 : 400;
    case 'login':
      if (!b || typeof b.user !== 'string' || typeof b.password !== 'string') return 400;
      return b.password === passwordFor(b.user) ? 200 : 401;
    case 'graphql':
      return b && typeof b.query === 'string' && /^\s*(\{|query\b)/.test(b.query) ? 200 : 400;
    case 'reports.create':
      return b && typeof b.kind === 'string' ? 202 : 400;
    case 'reports.get':
      return reportExists(route.id ?? NaN) ? 200 : 404;
    case 'orders.create':
      return b && typeof b.sku === 'number' && itemExists(b.sku) && typeof b.qty === 'number' && b.qty >= 1 && b.qty <= 100 ? 201 : 422;
    case 'me':
      return 200;
  }
}
