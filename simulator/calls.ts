/**
 * One simulated call: the CallEvent a sidecar would have emitted for it, plus what a driver needs to
 * send it for real (method, path, query, body, raw API key, User-Agent, source IP) and its ground
 * truth (which scenario, if any, produced it).
 */
import type { CallEvent } from '../models/events.js';
import type { Rng } from './random.js';
import { ROUTES, statusFor, type RouteName } from './routes.js';

export interface SimCall {
  readonly event: CallEvent;
  readonly method: string;
  /** Path without the query string (equals event.route). */
  readonly path: string;
  /** Query string without `?` ('' when none). */
  readonly query: string;
  /** JSON request body, or null. */
  readonly body: string | null;
  /** The raw API key for `x-api-key`, or null for anonymous callers. */
  readonly apiKey: string | null;
  readonly userAgent: string;
  /** Ground truth: the scenario label id that produced this call, or null for normal traffic. */
  readonly scenario: string | null;
}

/** Who makes a call, as a sidecar would identify it. */
export interface Caller {
  readonly apiKey: string | null;
  /** `apiKey:<16 hex>` for keyed callers, else `ip:<ip>`. */
  readonly clientKey: string;
  readonly tier: string;
  readonly userAgent: string;
  readonly uaHash: string;
}

/** What a call asks for; the API's answer follows from it (routes.ts statusFor). */
export interface RequestIntent {
  readonly route: RouteName;
  /** Path parameter for items.get / reports.get. */
  readonly id?: number;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: Readonly<Record<string, unknown>>;
}

export interface CallBuilderOptions {
  readonly service: string;
  readonly pods: readonly string[];
  /** Share of calls that fail with 500/503 whatever they asked (a backend's background fault rate). */
  readonly serverErrorRate: number;
}

const NO_QUERY: Readonly<Record<string, string>> = Object.freeze({});

export class CallBuilder {
  constructor(private readonly opts: CallBuilderOptions) {}

  build(ts: number, caller: Caller, ip: string, intent: RequestIntent, rng: Rng, scenario: string | null): SimCall {
    const def = ROUTES[intent.route];
    const path = intent.id === undefined ? def.template : def.template.replace(':id', String(intent.id));
    const query = intent.query ?? NO_QUERY;
    let status = statusFor(intent.id === undefined ? { name: def.name } : { name: def.name, id: intent.id }, query, intent.body ?? null);
    if (this.opts.serverErrorRate > 0 && rng.float() < this.opts.serverErrorRate) status = rng.float() < 0.7 ? 500 : 503;
    // failures are cheap to answer (4xx) or slow (5xx: timeouts, retries inside the backend)
    const latencyFactor = status >= 500 ? 4 : status >= 400 ? 0.4 : 1;
    const latencyMs = Math.round(rng.logNormal(def.latency.median, def.latency.sigma) * latencyFactor * 10) / 10;
    const bytesOut = Math.round(status >= 400 ? rng.logNormal(160, 0.2) : rng.logNormal(def.bytesOut.median, def.bytesOut.sigma));
    const body = intent.body ? JSON.stringify(intent.body) : null;
    const pods = this.opts.pods;
    const event: CallEvent = {
      v: 1,
      ts,
      pod: pods.length === 1 ? pods[0]! : pods[rng.int(pods.length)]!,
      service: this.opts.service,
      method: def.method,
      route: path,
      status,
      latencyMs,
      bytesIn: body === null ? 0 : Buffer.byteLength(body),
      bytesOut,
      ip,
      client: caller.clientKey,
      user: null,
      uaHash: caller.uaHash,
      decision: 'allowed',
      rule: null,
      cost: 1,
      tier: caller.tier,
    };
    return { event, method: def.method, path, query: renderQuery(query), body, apiKey: caller.apiKey, userAgent: caller.userAgent, scenario };
  }
}

function renderQuery(query: Readonly<Record<string, string>>): string {
  let out = '';
  for (const k in query) out += (out ? '&' : '') + encodeURIComponent(k) + '=' + encodeURIComponent(query[k]!);
  return out;
}

/** `path?query` as sent on the wire. */
export function requestTarget(call: SimCall): string {
  return call.query ? `${call.path}?${call.query}` : call.path;
}
