/**
 * Helpers for engine tests: a settable clock, request facts, policies from YAML snippets.
 */
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import type { Clock, RequestFacts } from '../../../sidecar/engine/index.js';

export class ManualClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface FactsInput {
  method?: string;
  path?: string;
  host?: string;
  ip?: string;
  apiKeyId?: string | null;
  user?: string | null;
  tier?: string;
  headers?: Record<string, string>;
  graphql?: RequestFacts['graphql'];
}

export function facts(input: FactsInput = {}): RequestFacts {
  const ip = input.ip ?? '10.0.0.1';
  const apiKeyId = input.apiKeyId ?? null;
  const user = input.user ?? null;
  const clientKey = apiKeyId ? `apiKey:${apiKeyId}` : user ? `user:${user}` : `ip:${ip}`;
  const identities = [...(apiKeyId ? [`apiKey:${apiKeyId}`] : []), ...(user ? [`user:${user}`] : []), `ip:${ip}`];
  const headers = input.headers ?? {};
  return {
    method: input.method ?? 'GET',
    path: input.path ?? '/',
    host: input.host ?? 'api.example.com',
    ip,
    apiKeyId,
    user,
    tier: input.tier ?? 'free',
    clientKey,
    identities,
    header: (name) => headers[name],
    graphql: input.graphql ?? null,
  };
}

/** A policy from YAML (the `version: 1` line is added); throws with every error when invalid. */
export function policy(yaml: string): Policy {
  const r = parsePolicy(`version: 1\n${yaml}`);
  if (!r.ok) throw new Error(`test policy is invalid: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return r.policy;
}

/** A policy with one rule given as a flow mapping (plus optional extra top-level YAML). */
export function oneRule(rule: string, extra = ''): Policy {
  return policy(`identity: { apiKey: { header: x-api-key }, jwt: { algorithms: [HS256], secretEnv: JWT_SECRET } }\n${extra}\nrules:\n  - ${rule}\n`);
}
