/**
 * A small deterministic Engine for testing the sidecar around the engine contract
 * (sidecar/engine/types.ts) without the real one: each rule of the policy is a fixed window of
 * `limit` per `windowMs` keyed by client key, blocks and overrides come from the ControlView,
 * and `script` lets a test dictate verdict kinds. The real engine is used by the integration and
 * end-to-end tests.
 */
import type { Policy } from '../../../models/policy/index.js';
import type { ControlView, Engine, EngineOptions, RequestFacts, RuleOutcome, Verdict, VerdictKind } from '../../../sidecar/engine/types.js';
import { NO_CONTROL, systemClock } from '../../../sidecar/engine/types.js';

export interface FakeEngine extends Engine {
  decisions: RequestFacts[];
  released: number;
  policy: Policy;
  /** When set, decides the verdict kind for a request (null: normal counting). */
  script: ((facts: RequestFacts) => VerdictKind | null) | null;
  healthy: boolean;
  needsBodyFor: string | null;
}

export function fakeEngineFactory(holder: { engine?: FakeEngine } = {}): (opts: EngineOptions) => FakeEngine {
  return (opts) => {
    const clock = opts.clock ?? systemClock;
    const control: ControlView = opts.control ?? NO_CONTROL;
    const counts = new Map<string, { start: number; n: number }>();
    const engine: FakeEngine = {
      decisions: [],
      released: 0,
      policy: opts.policy,
      script: null,
      healthy: true,
      needsBodyFor: null,
      needsBody(_method, path) {
        return engine.needsBodyFor !== null && path === engine.needsBodyFor;
      },
      async decide(facts) {
        engine.decisions.push(facts);
        const now = clock.now();
        const blocked = control.block(facts.identities, now);
        const outcomes: RuleOutcome[] = [];
        let rejecting: RuleOutcome | null = null;
        for (const rule of engine.policy.rules) {
          const o = control.override(rule.id, facts.identities, now);
          const limit = o?.limit ?? Math.floor(rule.limit * (o?.multiplier ?? 1) * control.loadMultiplier(facts.tier, now));
          const key = rule.id + '|' + facts.clientKey;
          let c = counts.get(key);
          const windowStart = Math.floor(now / rule.windowMs) * rule.windowMs;
          if (!c || c.start !== windowStart) {
            c = { start: windowStart, n: 0 };
            counts.set(key, c);
          }
          const allowed = c.n + 1 <= limit;
          if (allowed) c.n++;
          const resetMs = windowStart + rule.windowMs - now;
          const outcome: RuleOutcome = { ruleId: rule.id, allowed, shadow: rule.shadow, limit, remaining: Math.max(0, limit - c.n), windowMs: rule.windowMs, resetMs, retryAfterMs: allowed ? 0 : resetMs };
          outcomes.push(outcome);
          if (!allowed && !rule.shadow && rejecting === null) rejecting = outcome;
        }
        const headline = rejecting ?? outcomes.filter((o) => !o.shadow).sort((a, b) => a.remaining / a.limit - b.remaining / b.limit)[0] ?? null;
        const base = { outcomes, headline, delayMs: 0, cost: 1 };
        const scripted = engine.script?.(facts) ?? null;
        const release = (): void => {
          engine.released++;
        };
        if (blocked) return { ...base, kind: 'block', decision: 'blocked', rule: null, block: blocked, retryAfterMs: blocked.until - now };
        if (scripted === 'queue') return { ...base, kind: 'queue', decision: 'queued', rule: headline?.ruleId ?? null, delayMs: 200, release };
        if (scripted === 'bad-request') return { ...base, kind: 'bad-request', decision: 'limited', rule: null, detail: 'too deep' };
        if (scripted === 'unavailable') return { ...base, kind: 'unavailable', decision: 'limited', rule: null, retryAfterMs: 1000 };
        if (rejecting) return { ...base, kind: 'limit', decision: 'limited', rule: rejecting.ruleId, retryAfterMs: rejecting.retryAfterMs };
        return { ...base, kind: 'allow', decision: 'allowed', rule: headline?.ruleId ?? null, release } satisfies Verdict;
      },
      setPolicy(policy) {
        engine.policy = policy;
      },
      storeHealthy() {
        return engine.healthy;
      },
      async close() {},
    };
    holder.engine = engine;
    return engine;
  };
}
