/** Shared fixtures for the load tests: a policy with tiers and analyzer.load, and CallEvents. */
import assert from 'node:assert/strict';
import type { CallEvent, Decision } from '../../../models/events.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';

export function loadPolicy(load = 'targets: { p99: 250ms, errorRate: 0.01 }\n    minMultiplier: 0.2', extra = ''): Policy {
  const text = `version: 1
identity: { apiKey: { header: x-api-key } }
tiers: { free: {}, pro: { multiplier: 10 }, enterprise: { multiplier: 100, shedPriority: 0 } }
rules:
  - id: per-key
    key: [apiKey]
    algorithm: token-bucket
    rate: 100/s
    burst: 100
${extra}analyzer:
  load:
    ${load}
`;
  const r = parsePolicy(text);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  return r.policy;
}

export function event(ts: number, over: Partial<{ service: string; status: number; latencyMs: number; decision: Decision; tier: string; rule: string | null }> = {}): CallEvent {
  return {
    v: 1,
    ts,
    pod: 'pod-1',
    service: over.service ?? 'shop',
    method: 'GET',
    route: '/api/items/1',
    status: over.status ?? 200,
    latencyMs: over.latencyMs ?? 20,
    bytesIn: 0,
    bytesOut: 100,
    ip: '10.0.0.1',
    client: 'apiKey:0123456789abcdef',
    user: null,
    uaHash: null,
    decision: over.decision ?? 'allowed',
    rule: over.rule ?? null,
    cost: 1,
    tier: over.tier ?? 'free',
  };
}

/** `n` events spread over [from, from + spanMs), latencies from `latency(i)`. */
export function events(n: number, from: number, spanMs: number, over: (i: number) => Parameters<typeof event>[1] = () => ({})): CallEvent[] {
  return Array.from({ length: n }, (_, i) => event(from + Math.floor((i * spanMs) / n), over(i)));
}
