/**
 * What a normal client asks for, and the actor that makes its calls over time. Normal traffic is
 * not perfectly clean: popular items dominate, some links are stale (404), users mistype passwords
 * (401), buggy integrations send bad requests (400/422) — at rates that vary per client.
 */
import { ArrivalActor, MINUTE_MS, PiecewisePoisson, minuteSegmentEnd, type Actor } from './arrivals.js';
import type { CallBuilder, RequestIntent } from './calls.js';
import { SEARCH_WORDS } from './identities.js';
import { rateMultiplier, type SimClient } from './population.js';
import type { Rng } from './random.js';
import { ITEM_COUNT, nextExistingItem, nextMissingItem, passwordFor, REPORT_COUNT, reportExists, type RouteName } from './routes.js';

export const GRAPHQL_QUERIES = [
  '{ me { id name } }',
  '{ items(first: 10) { id name price } }',
  'query Item($id: ID!) { item(id: $id) { id name price stock } }',
  '{ orders(last: 5) { id total items { id } } }',
  'query Search($q: String!) { search(q: $q, first: 20) { id name } }',
];
const REPORT_KINDS = ['sales', 'inventory', 'usage', 'traffic'];

/** A popular item: ids skewed towards the front of the catalogue (u³), mostly existing. */
export function popularItem(rng: Rng): number {
  const u = rng.float();
  return 1 + Math.floor(ITEM_COUNT * u * u * u);
}

/** A Zipf-like choice of search word: the first words are searched most. */
export function popularWord(rng: Rng): string {
  const u = rng.float();
  return SEARCH_WORDS[Math.floor(SEARCH_WORDS.length * u * u)]!;
}

export function normalIntent(route: RouteName, client: SimClient, rng: Rng): RequestIntent {
  const oops = client.errorPropensity;
  switch (route) {
    case 'items.get': {
      const id = popularItem(rng);
      return { route, id: rng.float() < 0.03 * oops ? nextMissingItem(id) : nextExistingItem(id) };
    }
    case 'items.list':
      return { route, query: { page: String(1 + Math.floor(rng.exponential(0.7))), limit: '50' } };
    case 'search':
      return { route, query: { q: rng.float() < 0.005 * oops ? '' : popularWord(rng) } };
    case 'login': {
      const user = client.users.length > 0 ? rng.pick(client.users) : `${client.name}-svc`;
      const password = rng.float() < 0.03 * oops ? passwordFor(user) + 'x' : passwordFor(user);
      return { route, body: { user, password } };
    }
    case 'graphql':
      return { route, body: { query: rng.float() < 0.003 * oops ? 'mutation {' : rng.pick(GRAPHQL_QUERIES) } };
    case 'reports.create':
      return { route, body: { kind: rng.pick(REPORT_KINDS), from: '2024-01-01', to: '2024-01-31' } };
    case 'reports.get': {
      // clients fetch reports they created (ids from their own region of the id space)
      let id = 1 + ((client.index * 7919 + rng.int(500)) % REPORT_COUNT);
      if (!reportExists(id) && rng.float() > 0.02 * oops) id = id + 1 <= REPORT_COUNT ? id + 1 : 1;
      return { route, id };
    }
    case 'orders.create':
      return { route, body: { sku: nextExistingItem(popularItem(rng)), qty: rng.float() < 0.01 * oops ? 0 : 1 + Math.floor(rng.exponential(1.2)) } };
    case 'me':
      return { route };
  }
}

/**
 * A normal client: a Poisson process whose rate changes every minute with the client's diurnal and
 * weekly pattern and an AR(1) log-normal noise (ρ = 0.9 per minute: busy and quiet spells last
 * around ten minutes, as sessions and batch jobs do), with mean 1 so the weekly mean is kept.
 */
/** Mean minutes of a session on a client's usual device(s), between sessions on its later device. */
const SESSION_MIN = 20;

export function clientActor(client: SimClient, rng: Rng, startMs: number, endMs: number, builder: CallBuilder): Actor {
  const perMs = client.meanRatePerMin / MINUTE_MS;
  const sigma = client.pattern.noiseSigma;
  const rho = 0.9;
  const innovation = sigma * Math.sqrt(1 - rho * rho);
  let logNoise = sigma > 0 ? rng.normal(0, sigma) : 0;
  const arrivals = new PiecewisePoisson(rng, startMs, endMs, (from) => {
    if (sigma > 0) logNoise = rho * logNoise + innovation * rng.normal();
    const noise = sigma > 0 ? Math.exp(logNoise - (sigma * sigma) / 2) : 1;
    const end = minuteSegmentEnd(from);
    return { endMs: end, ratePerMs: perMs * rateMultiplier(client.pattern, (from + end) / 2) * noise };
  });
  // a later device is used in sessions (≈ 20 min on the usual ones, ≈ 20 × share / (1 − share) min on
  // it, so `share` of the time once it exists), not call by call: one owner, one device at a time
  const device = client.laterDevice;
  const deviceCaller = device ? { ...client, userAgent: device.userAgent, uaHash: device.uaHash } : client;
  const deviceRng = rng.fork('device');
  let onDevice = false;
  let switchAt = device ? startMs + device.startFraction * (endMs - startMs) : Infinity;
  return new ArrivalActor(arrivals, (ts) => {
    const route = client.routes.sample(rng);
    const ip = client.ipTable.sample(rng);
    while (ts >= switchAt) {
      // the first switch is to the new device; its draws come from their own stream, so the
      // client's calls stay what they were without it
      onDevice = !onDevice;
      const meanMin = onDevice ? (SESSION_MIN * device!.share) / (1 - device!.share) : SESSION_MIN;
      switchAt += deviceRng.exponential(1 / (meanMin * MINUTE_MS));
    }
    if (onDevice) return builder.build(ts, deviceCaller, device!.ip, normalIntent(route, client, rng), rng, null);
    return builder.build(ts, client, ip, normalIntent(route, client, rng), rng, null);
  });
}
