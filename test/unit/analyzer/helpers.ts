/** Small builders for the analyzer's unit tests. */
import type { CallEvent } from '../../../models/events.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';

export const T0 = Date.UTC(2025, 0, 6, 12); // a Monday, on a minute boundary

export function ev(over: Partial<CallEvent> = {}): CallEvent {
  return {
    v: 1,
    ts: T0,
    pod: 'p0',
    service: 'api',
    method: 'GET',
    route: '/api/items',
    status: 200,
    latencyMs: 10,
    bytesIn: 100,
    bytesOut: 900,
    ip: '10.0.0.1',
    client: 'apiKey:00000000000000aa',
    user: null,
    uaHash: 'ua-1',
    decision: 'allowed',
    rule: null,
    cost: 1,
    ...over,
  };
}

export function policy(analyzer = ''): Policy {
  const text = `version: 1
identity: { apiKey: { header: x-api-key } }
tiers: { free: {}, pro: { multiplier: 4 } }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 1000, window: 60s }
${analyzer}`;
  const parsed = parsePolicy(text);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.policy;
}
