import { randomBytes } from 'node:crypto';
import type { Policy } from '../../models/policy/index.js';
import { POLICY_BOUNDS } from '../../models/policy/schema.js';
import { ErrorCodes, RatewardenError } from '../../models/errors.js';
import { Check, Where, snapshot } from './check.js';
import { REJECT } from './algorithms/index.js';
import { compilePolicy, type CompiledPolicy, type CompiledRule } from './compile.js';
import { MAX_COST, graphqlCost } from './graphqlCost.js';
import { MemoryStore } from './stores/memoryStore.js';
import { LeasedStore } from './stores/leasedStore.js';
import { RedisStore, type StoreWaiter } from './redis/redisStore.js';
import { ALLOW_UNMATCHED, badRequestVerdict, blockVerdict, unavailableVerdict, verdictFromChecks, withShadowRefusals, type Settler } from './verdict.js';
import {
  NO_CONTROL,
  systemClock,
  type Clock,
  type ControlView,
  type Engine,
  type EngineHooks,
  type EngineOptions,
  type EngineStats,
  type RequestFacts,
  type Verdict,
} from './types.js';

const UNMATCHED: Promise<Verdict> = Promise.resolve(ALLOW_UNMATCHED);

/**
 * The rule engine: for one request, every matching rule becomes a Check (its key, cost and
 * effective limit: base × tier multiplier × override × load multiplier), the checks are decided by
 * their stores — all of a request's shared rules in ONE Redis script call — and the verdict is
 * built from the outcomes. A control-plane block answers before any store is touched.
 *
 * Stores: `memory` kind → everything in the memory store. `redis` kind → shared rules in Redis,
 * `scope: local` rules in memory, `scope: global-leased` rules through leases. A request passes
 * only if every store's rules pass; local admissions are taken first (synchronously) and refunded
 * if Redis then rejects, so no store ever admits for a request another store rejected.
 */
export class RuleEngine implements Engine, Settler {
  private compiled: CompiledPolicy;
  private readonly clock: Clock;
  private readonly control: ControlView;
  private readonly hooks: EngineHooks;
  private readonly service: string;
  private memory: MemoryStore;
  private fallback: MemoryStore;
  private readonly redis: RedisStore | null;
  private leased: LeasedStore | null;
  private readonly tokenPrefix: string;
  private seq = 0;
  private fallbackDecisions = 0;
  /** Requests answered 503 because the shared store was unavailable and failMode is closed. */
  private unavailableDecisions = 0;
  private evictions = 0;
  private readonly onEvict = (n: number): void => {
    this.evictions += n;
    this.hooks.keysEvicted?.(n);
  };

  constructor(opts: EngineOptions) {
    const { policy } = opts;
    this.clock = opts.clock ?? systemClock;
    this.control = opts.control ?? NO_CONTROL;
    this.hooks = opts.hooks ?? {};
    this.service = opts.service;
    const id = (opts.instanceId ?? randomBytes(6).toString('hex')).replace(/[^A-Za-z0-9_.-]/g, '_');
    this.tokenPrefix = `${id}:${Date.now().toString(36)}:`;
    if (policy.store.kind === 'redis' && !opts.redis) {
      throw new RatewardenError(ErrorCodes.CONFIG_STORE, 'store.kind is redis but no Redis client was given (set REDIS_URL or REDIS_CLUSTER_NODES)');
    }
    this.compiled = compilePolicy(policy);
    this.memory = new MemoryStore(policy.store.maxKeys, this.onEvict);
    this.fallback = new MemoryStore(policy.store.maxKeys, this.onEvict, policy.store.replicas);
    this.redis = opts.redis
      ? new RedisStore({
          client: opts.redis,
          timeoutMs: policy.store.timeoutMs,
          now: opts.redisTime === 'clock' ? () => this.clock.now() : null,
          maxInFlight: opts.batch?.maxInFlight ?? 2,
          maxBatch: opts.batch?.maxBatch ?? 512,
          onError: (err) => this.hooks.storeError?.(err),
        })
      : null;
    if (this.redis) {
      const store = this.redis;
      if (opts.redis!.status === 'ready') void store.preload();
      else opts.redis!.once('ready', () => void store.preload());
    }
    this.leased = this.redis ? new LeasedStore(this.redis, policy.store.maxKeys, () => this.clock.now(), policy.store.replicas, this.onEvict) : null;
  }

  needsBody(method: string, path: string, host: string): boolean {
    const cp = this.compiled;
    if (!cp.anyGraphql) return false;
    for (const rule of cp.rules) if (rule.graphql !== null && rule.matches(method, path, host)) return true;
    return false;
  }

  decide(facts: RequestFacts): Promise<Verdict> {
    try {
      return this.decideNow(facts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private decideNow(facts: RequestFacts): Promise<Verdict> {
    const now = this.clock.now();
    const cp = this.compiled;
    const control = this.control;
    // a block or override may also name a `header:`/`route:` part some rule keys on
    const extra = cp.keyIdentities === null ? null : cp.keyIdentities(facts);
    const identities = extra === null ? facts.identities : facts.identities.concat(extra);
    const block = control.block(identities, now);
    if (block !== null) return Promise.resolve(blockVerdict(block, now));

    let checks: Check[] | null = null;
    /** Shadow rules that could not measure the request: reported as rejections, decided by no store. */
    let refused: Check[] | null = null;
    let cost = 0;
    let tierMult = 0;
    let load = -1;
    let mixed = false;
    // rules keyed alike share one key string (and so one memory-store lookup)
    let lastKeyOf: CompiledRule['keyOf'] | null = null;
    let lastKey = '';
    const rules = cp.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!rule.matches(facts.method, facts.path, facts.host)) continue;
      let units = rule.fixedCost;
      let refusal: string | null = null;
      if (units === null) {
        const g = facts.graphql ? graphqlCost(facts.graphql, rule.graphql!) : null;
        if (g === null) units = 1; // not a GraphQL request (no query): one unit
        else if (g.ok) units = g.cost;
        else {
          units = 0;
          refusal = g.reason;
        }
      }
      // no algorithm may see a cost that is not a finite number ≥ 0 (NaN fails every comparison: no "cost > limit" refuses it)
      if (!(units >= 0 && units <= MAX_COST)) refusal = `the request's cost (${units}) is not a usable number of units`;
      if (refusal !== null && !rule.shadow) return Promise.resolve(badRequestVerdict(rule.id, refusal));
      if (load < 0) {
        load = control.loadMultiplier(facts.tier, now);
        tierMult = cp.tierMultipliers.get(facts.tier) ?? cp.defaultTierMultiplier;
      }
      if (rule.keyOf !== lastKeyOf) {
        lastKeyOf = rule.keyOf;
        lastKey = rule.keyOf(facts);
      }
      const c = this.check(rule, lastKey, identities, units, tierMult, load, now);
      if (refusal !== null) {
        // shadow: count and report, never reject — the query it cannot measure is a shadow rejection, not a 400
        c.status = REJECT;
        (refused ??= []).push(c);
        continue;
      }
      if (checks === null) checks = [c];
      else checks.push(c);
      if (rule.scope !== 'shared') mixed = true;
      if (units > cost) cost = units;
    }
    if (refused === null) return checks === null ? UNMATCHED : this.decideChecks(checks, cost, mixed, now);
    const shadowRefused = refused;
    const decided = checks === null ? UNMATCHED : this.decideChecks(checks, cost, mixed, now);
    return decided.then((v) => withShadowRefusals(v, shadowRefused));
  }

  /** The checks of one request, each in its store (`mixed`: some rule is not shared). */
  private decideChecks(checks: Check[], cost: number, mixed: boolean, now: number): Promise<Verdict> {
    const cp = this.compiled;
    const redis = this.redis;
    if (redis === null || !cp.redis) {
      this.memory.decide(checks, 0, checks.length, now);
      for (let i = 0; i < checks.length; i++) checks[i]!.where = Where.Memory;
      return Promise.resolve(verdictFromChecks(checks, cost, this));
    }
    if (!mixed) {
      if (redis.available()) return this.viaRedis(checks, cost);
      return Promise.resolve(this.withoutRedis(checks, checks, true, cost, now));
    }
    return this.mixedStores(checks, cost, now);
  }

  /** A rule's Check for this request: key, cost and the effective limit. */
  private check(rule: CompiledRule, key: string, identities: readonly string[], units: number, tierMult: number, load: number, now: number): Check {
    let limit = rule.rule.limit;
    let burst = rule.rule.burst;
    let mult = rule.applyTiers ? tierMult : 1;
    const ov = this.control.override(rule.id, identities, now);
    if (ov !== null) {
      if (ov.limit !== undefined) {
        burst = limit > 0 ? (burst * ov.limit) / limit : ov.limit; // `limit` replaces base × tier
        limit = ov.limit;
        mult = 1;
      } else if (ov.multiplier !== undefined) mult *= ov.multiplier;
    }
    mult *= load;
    // below 0.001 (an override multiplier 0 written by hand) a bucket's rate would be 0: never refilled
    if (mult < POLICY_BOUNDS.minLoadMultiplier) mult = POLICY_BOUNDS.minLoadMultiplier;
    if (mult !== 1) {
      // a multiplier tightens, it never blocks: a window keeps room for one request of the rule's
      // fixed cost (one unit without one), a bucket that much capacity (its rate stays the product:
      // any rate refills); a value already below that stays as it was, and an override's
      // `limit: 0` is still a block
      const least = rule.fixedCost ?? 1;
      limit = rule.isBucket ? limit * mult : Math.max(limit * mult, Math.min(limit, least));
      burst = Math.max(burst * mult, Math.min(burst, least));
    }
    if (!rule.isBucket) {
      limit = Math.floor(limit + 1e-9); // window and concurrency limits count whole requests
      burst = limit;
    }
    const c = new Check(rule, key, limit, burst, units);
    if (rule.needsToken) c.token = this.tokenPrefix + (++this.seq).toString(36);
    return c;
  }

  /** Every matching rule is shared: one batched script call decides them all (one promise per request). */
  private viaRedis(checks: Check[], cost: number): Promise<Verdict> {
    return new Promise<Verdict>((resolve, reject) => this.redis!.submit(checks, false, new RedisDecision(this, checks, cost, resolve, reject)));
  }

  /** RedisDecision's outcome: the verdict, or failMode when Redis did not answer. */
  redisAnswered(checks: Check[], cost: number, pass: boolean | null): Verdict {
    if (pass === null) return this.withoutRedis(checks, checks, true, cost, this.clock.now());
    for (let i = 0; i < checks.length; i++) checks[i]!.where = Where.Redis;
    return verdictFromChecks(checks, cost, this);
  }

  /**
   * Redis did not answer (or the breaker is open): failMode open decides the shared rules in local
   * memory with limits divided among the replicas; closed answers 503. `passSoFar` false means
   * another store already rejected the request.
   */
  private withoutRedis(all: Check[], remote: Check[], passSoFar: boolean, cost: number, now: number): Verdict {
    if (this.compiled.policy.store.failMode === 'closed') {
      this.refundAll(all);
      this.unavailableDecisions++;
      return unavailableVerdict(all, cost);
    }
    this.fallbackDecisions++;
    const pass = this.fallback.decide(remote, 0, remote.length, now, !passSoFar);
    for (let i = 0; i < remote.length; i++) remote[i]!.where = Where.Fallback;
    if (!pass) this.refundAll(all);
    return verdictFromChecks(all, cost, this);
  }

  /** Rules in several stores: local (memory) first, then leased, then Redis; refunds on a later rejection. */
  private async mixedStores(all: Check[], cost: number, now: number): Promise<Verdict> {
    const local: Check[] = [];
    const leased: Check[] = [];
    const remote: Check[] = [];
    for (const c of all) {
      if (c.rule.scope === 'local') local.push(c);
      else if (c.rule.scope === 'global-leased') leased.push(c);
      else remote.push(c);
    }
    /** The checks decided so far: a store skipped after a rejection reports no outcome. */
    let decided: Check[] = local;
    let pass = true;
    if (local.length > 0) {
      pass = this.memory.decide(local, 0, local.length, now);
      for (const c of local) c.where = Where.Memory;
    }
    if (leased.length > 0 && pass) {
      let leasedPass: boolean;
      try {
        const r = this.leased!.decide(leased, now);
        leasedPass = typeof r === 'boolean' ? r : await r;
        for (const c of leased) c.where = Where.Leased;
      } catch {
        if (this.compiled.policy.store.failMode === 'closed') {
          this.refundAll(decided);
          this.unavailableDecisions++;
          return unavailableVerdict(all, cost);
        }
        this.fallbackDecisions++;
        leasedPass = this.fallback.decide(leased, 0, leased.length, this.clock.now());
        for (const c of leased) c.where = Where.Fallback;
      }
      if (!leasedPass) pass = false;
      decided = decided.concat(leased);
    }
    if (remote.length > 0 && (pass || remote.some((c) => c.rule.countRejected))) {
      let remotePass = false;
      let failed = !this.redis!.available();
      if (!failed) {
        try {
          remotePass = await this.redis!.decide(remote, !pass);
          for (const c of remote) c.where = Where.Redis;
        } catch {
          failed = true;
        }
      }
      decided = decided.concat(remote);
      if (failed) return this.withoutRedis(decided, remote, pass, cost, this.clock.now());
      if (!remotePass) pass = false;
    }
    if (!pass) this.refundAll(decided);
    return verdictFromChecks(decided, cost, this);
  }

  /** Gives back every admission of a rejected request, whichever store made it. */
  private refundAll(checks: readonly Check[]): void {
    for (const c of checks) {
      if (c.committed) this.refundOne(c);
    }
  }

  /** Gives back one committed admission (or lease) in the store that made it. */
  private refundOne(c: Check): void {
    switch (c.where) {
      case Where.Memory:
        this.memory.refund(c);
        break;
      case Where.Fallback:
        this.fallback.refund(c);
        break;
      case Where.Leased:
        this.leased?.refund(c);
        break;
      case Where.Redis:
        c.committed = false;
        this.redis?.refund([snapshot(c)]);
        break;
      default:
        c.committed = false;
    }
  }

  /**
   * verdict.refund for an admitted request the upstream never answered: every consumption given back
   * in the store that made it (leases released too). A countRejected rule's admission is not marked
   * committed (a later rejection would not undo it), but it consumed all the same: it is given back
   * here as well. Once, idempotent, never awaited; null when nothing was consumed.
   */
  refunder(checks: readonly Check[]): (() => void) | undefined {
    let any = false;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      if (c.committed || (c.rule.countRejected && c.status !== REJECT && c.where !== Where.None)) {
        any = true;
        break;
      }
    }
    if (!any) return undefined;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (let i = 0; i < checks.length; i++) {
        const c = checks[i]!;
        if (!c.committed) {
          if (c.rule.isConcurrency || !c.rule.countRejected || c.status === REJECT || c.where === Where.None) continue;
          c.committed = true; // a countRejected admission: consumed, though never marked for rejection refunds
        }
        try {
          this.refundOne(c);
        } catch {
          // fire and forget: a refund that cannot be made must not disturb the request path
        }
      }
    };
  }

  /** verdict.release for requests holding concurrency leases: once, idempotent, never awaited. */
  releaser(checks: readonly Check[]): (() => void) | undefined {
    let held: Check[] | null = null;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      if (c.rule.isConcurrency && c.committed) (held ??= []).push(c);
    }
    if (held === null) return undefined;
    let done = false;
    const leases = held;
    return () => {
      if (done) return;
      done = true;
      this.refundAll(leases);
    };
  }

  setPolicy(policy: Policy): void {
    const prev = this.compiled.policy;
    if (policy.store.kind === 'redis' && this.redis === null) {
      throw new RatewardenError(ErrorCodes.CONFIG_STORE, 'the new policy uses store.kind redis but this sidecar was started without Redis');
    }
    this.compiled = compilePolicy(policy);
    // store.timeout applies on reload (it used to keep the value the engine was created with)
    this.redis?.setTimeoutMs(policy.store.timeoutMs);
    if (policy.store.maxKeys !== prev.store.maxKeys) {
      // a new bound needs a new cache; counters start afresh (rare: only when maxKeys changes)
      this.memory = new MemoryStore(policy.store.maxKeys, this.onEvict);
      this.fallback = new MemoryStore(policy.store.maxKeys, this.onEvict, policy.store.replicas);
    } else if (policy.store.replicas !== prev.store.replicas) {
      this.fallback = new MemoryStore(policy.store.maxKeys, this.onEvict, policy.store.replicas);
    }
    // a rule kept across the reload (same id and algorithm) keeps its counters: they must not be
    // dropped as idle by the horizon of its old window
    const horizon = (divisor: number): number => {
      let ms = 1;
      for (const r of this.compiled.rules) {
        const limit = r.isBucket ? r.rule.limit / divisor : Math.ceil(r.rule.limit / divisor);
        const burst = r.isBucket ? Math.max(1, r.rule.burst / divisor) : Math.ceil(r.rule.burst / divisor);
        ms = Math.max(ms, r.impl.idleMs({ limit, burst, windowMs: r.windowMs, cost: 1, maxDelayMs: r.maxDelayMs, queue: r.queue }));
      }
      return ms;
    };
    this.memory.extendHorizon(horizon(1));
    this.fallback.extendHorizon(horizon(policy.store.replicas));
    if (this.redis && (policy.store.maxKeys !== prev.store.maxKeys || policy.store.replicas !== prev.store.replicas)) {
      this.leased = new LeasedStore(this.redis, policy.store.maxKeys, () => this.clock.now(), policy.store.replicas, this.onEvict);
    }
  }

  storeHealthy(): boolean {
    if (!this.compiled.redis || this.redis === null) return true;
    return this.redis.healthy();
  }

  stats(): EngineStats {
    return {
      keys: this.memory.size + this.fallback.size + (this.leased?.size ?? 0),
      evictions: this.evictions,
      storeErrors: this.redis?.errors ?? 0,
      fallbackDecisions: this.fallbackDecisions,
      unavailableDecisions: this.unavailableDecisions,
      storeCalls: this.redis?.calls ?? 0,
      storeDecisions: this.redis?.decisions ?? 0,
      storeShed: this.redis?.shed ?? 0,
      storeHealthy: this.storeHealthy(),
    };
  }

  /** The service this engine enforces for (control plane load multipliers are per service). */
  get serviceName(): string {
    return this.service;
  }

  /** Gives leased units back and lets queued refunds and releases reach Redis (bounded by store.timeoutMs), then stops. */
  async close(): Promise<void> {
    if (this.redis) {
      this.leased?.close();
      await this.redis.drain(this.compiled.policy.store.timeoutMs);
      this.redis.close();
    }
  }
}

/** Waits for one request's Redis decision and resolves its verdict (no promise chain in between). */
class RedisDecision implements StoreWaiter {
  constructor(
    private readonly engine: RuleEngine,
    private readonly checks: Check[],
    private readonly cost: number,
    private readonly resolve: (v: Verdict) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  storeDone(pass: boolean): void {
    this.settle(pass);
  }

  storeFailed(): void {
    this.settle(null);
  }

  private settle(pass: boolean | null): void {
    try {
      this.resolve(this.engine.redisAnswered(this.checks, this.cost, pass));
    } catch (err) {
      this.reject(err as Error); // a bug, not a store failure: the sidecar's engine-error path decides
    }
  }
}
