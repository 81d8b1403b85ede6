import { Command, type Redis, type Cluster } from 'ioredis';
import { ALLOW, REJECT, type Result } from '../algorithms/index.js';
import { snapshot, type Check, type Consumption } from '../check.js';
import { SCRIPTS } from './scripts.js';
import type { CompiledRule } from '../compile.js';
import { keySlot } from './slot.js';
import { MsgpackArrayWriter } from './msgpack.js';
import { CircuitBreaker } from './circuitBreaker.js';

/**
 * The shared store: counters in Redis (single node or Cluster), decided by Lua scripts.
 *
 * Batching (adaptive, no timers). When no call is in flight a decision goes out at once, alone: at
 * low and moderate load a decision costs one round trip and waits for nothing. While a call is in
 * flight, decisions accumulate and the accumulated batch goes out the moment it returns (or as a
 * second concurrent call once MIN_SPLIT have piled up, up to `maxInFlight` calls, each ≤ `maxBatch`),
 * so under load each call carries everything that arrived during the previous round trip. The script
 * decides the batch's requests in order, each atomically over all its rules, so batching changes no
 * outcome.
 *
 * Cluster. A script call may only touch one hash slot. Keys are `{<prefix>:<rule>:<key>}:<code>`,
 * so one rule's state for one key is always in one slot; a batch is split by slot (ioredis then
 * pipelines the calls per node). A request whose rules live in several slots is decided per slot,
 * each part atomically; when a part rejects, the parts that admitted are refunded afterwards
 * (asynchronously). Consumption happens before the refund, never after an admission it did not
 * check, so this can only under-admit, briefly — never over-admit.
 *
 * Failure. Every call has a timeout (`store.timeoutMs`); a failed or late call rejects its
 * decisions with StoreUnavailableError (the engine then applies failMode) and opens a circuit
 * breaker, so during an outage requests go straight to the fallback instead of each waiting for
 * the timeout; one probe call at a time tests recovery. A reply that arrives after its timeout is
 * still read, and whatever it admitted is refunded (leases released), so a stall leaves nothing
 * held behind.
 *
 * Overload. A Redis that is slow but answers in time opens no breaker; decisions arriving faster
 * than it decides them would pile up in the queue without limit (memory, and every decision's wait).
 * The queue is bounded (MAX_QUEUED_ROUNDS rounds of calls): a decision or lease that finds it full is
 * failed at once with QUEUE_FULL (failMode decides it, as while the breaker is open) and counted in
 * `shed`. Refunds are always queued.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** One shared error for shed decisions (no stack trace captured per decision under overload). */
const QUEUE_FULL = new StoreUnavailableError('the Redis store queue is full (Redis is slower than the request rate)');

/** One shared error for leases asked while the breaker is open (decided by failMode at once). */
const BREAKER_OPEN = new StoreUnavailableError('the Redis store is unavailable (circuit breaker open)');

/** Below this many decisions a call is not split further (each call has a fixed cost on both sides). */
const MIN_SPLIT = 32;

/**
 * The queue holds at most this many full rounds (maxInFlight calls × maxBatch units): a queued
 * decision goes out within that many round trips, each under store.timeoutMs (else the breaker
 * opens and fails the queue), so no decision waits much more than (1 + this) × store.timeoutMs.
 */
const MAX_QUEUED_ROUNDS = 2;

/**
 * Unit operations (lua/driver.ts): the header of a unit is number of checks × 4 + op, so a unit may
 * hold any number of checks (a late reply's refund gathers every admission of a whole batch: 512
 * requests × 2 rules overflowed the former op × 1000 + n and was read as a lease).
 */
const OP_DECIDE = 0;
const OP_DECIDE_FAILED = 1;
const OP_REFUND = 2;
const OP_LEASE = 3;
type Op = typeof OP_DECIDE | typeof OP_DECIDE_FAILED | typeof OP_REFUND | typeof OP_LEASE;

/** Who waits for a decision (the engine's per-request object): called exactly once, with the outcome. */
export interface StoreWaiter {
  /** Every unit answered: whether all non-shadow checks passed (results are in the checks). */
  storeDone(pass: boolean): void;
  /** A unit failed or timed out (StoreUnavailableError); admitted parts were refunded. */
  storeFailed(err: Error): void;
}

/** One request's decision, possibly split over several slots (units). */
class Pending {
  pass = true;
  units = 0;
  error: Error | null = null;
  constructor(
    readonly checks: readonly Check[],
    readonly waiter: StoreWaiter,
  ) {}
}

/** A StoreWaiter over a promise, for the callers that await (leases, mixed stores). */
class PromiseWaiter implements StoreWaiter {
  constructor(
    private readonly resolve: (pass: boolean) => void,
    private readonly reject: (err: Error) => void,
  ) {}
  storeDone(pass: boolean): void {
    this.resolve(pass);
  }
  storeFailed(err: Error): void {
    this.reject(err);
  }
}

/** What goes into one script call: a request (or its part in one slot), a refund or a lease. */
interface Unit {
  readonly op: Op;
  /** Checks for decide and lease (results are written into them), Consumptions for refunds. */
  readonly checks: readonly Consumption[];
  readonly pending: Pending | null;
  readonly slot: number;
}

interface Call {
  readonly units: Unit[];
  done: boolean;
  /** The call timed out: its units were failed; a reply, if it comes, only triggers refunds. */
  late: boolean;
}

export interface RedisStoreOptions {
  readonly client: Redis | Cluster;
  readonly timeoutMs: number;
  /** Time source for the scripts: null = the Redis server's TIME. */
  readonly now: (() => number) | null;
  readonly maxInFlight: number;
  readonly maxBatch: number;
  readonly onError: (err: Error) => void;
}

export class RedisStore {
  private readonly client: Redis | Cluster;
  private readonly cluster: boolean;
  /** store.timeoutMs, changed by a policy reload (setTimeoutMs). */
  private timeoutMs: number;
  private readonly now: (() => number) | null;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  private readonly onError: (err: Error) => void;
  private queue: Unit[] = [];
  /** Bound on queued units (decisions, leases and refunds); beyond it decisions and leases are shed. */
  private readonly maxQueued: number;
  private readonly writer = new MsgpackArrayWriter();
  private flushing = false;
  private inFlight = 0;
  private closed = false;
  /** A readiness probe (healthy()) is out. */
  private probing = false;
  readonly breaker = new CircuitBreaker();
  /** Counters for stats(). */
  calls = 0;
  decisions = 0;
  errors = 0;
  /** Decisions and leases not sent because the queue was full (decided by failMode instead). */
  shed = 0;

  constructor(opts: RedisStoreOptions) {
    this.client = opts.client;
    this.cluster = (opts.client as Cluster).isCluster === true;
    this.timeoutMs = opts.timeoutMs;
    this.now = opts.now;
    this.maxInFlight = Math.max(1, opts.maxInFlight);
    this.maxBatch = Math.max(1, opts.maxBatch);
    this.maxQueued = MAX_QUEUED_ROUNDS * this.maxInFlight * this.maxBatch;
    this.onError = opts.onError;
    this.flush = this.flush.bind(this);
  }

  /** A reloaded policy's store.timeoutMs, for the calls sent from now on. */
  setTimeoutMs(ms: number): void {
    this.timeoutMs = ms;
  }

  /** Loads every script on every primary (best effort: a NOSCRIPT later is answered with EVAL anyway). */
  async preload(): Promise<void> {
    const nodes: Array<Redis | Cluster> = this.cluster ? (this.client as Cluster).nodes('master') : [this.client];
    await Promise.all(nodes.flatMap((n) => Object.values(SCRIPTS).map((s) => n.script('LOAD', s.source).catch(() => undefined))));
  }

  /** Whether a decision may be sent now (false while the breaker is open and no probe is due). */
  available(): boolean {
    return !this.closed && this.breaker.allow(performance.now());
  }

  /**
   * Whether the breaker is closed. While it is open and a probe is due, this sends one (a PING under
   * the store timeout) that closes it on success: with failMode closed `/readyz` answers 503 while
   * the breaker is open, the pod then gets no traffic, and without decisions to probe with it would
   * never be ready again after Redis came back.
   */
  healthy(): boolean {
    if (this.closed) return false;
    if (!this.breaker.healthy && !this.probing && this.breaker.allow(performance.now())) this.probe();
    return this.breaker.healthy;
  }

  private probe(): void {
    const status = this.client.status;
    if (status === 'reconnecting' || status === 'end' || status === 'close') {
      this.breaker.failure(performance.now());
      return;
    }
    this.probing = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), this.timeoutMs);
    });
    Promise.race([this.client.ping(), late]).then(
      () => {
        if (!this.closed) this.breaker.success();
      },
      () => this.breaker.failure(performance.now()),
    ).finally(() => {
      clearTimeout(timer);
      this.probing = false;
    });
  }

  /**
   * Decides `checks` as one request (all must pass; see Pending for the Cluster case); `waiter` is
   * told the outcome (results written into the checks) or StoreUnavailableError. No promise on the
   * way: the engine's own per-request object waits. `alreadyRejected`: the request was rejected by a
   * local rule, only countRejected rules count it.
   */
  submit(checks: readonly Check[], alreadyRejected: boolean, waiter: StoreWaiter): void {
    if (this.queue.length >= this.maxQueued) {
      this.shed++;
      return waiter.storeFailed(QUEUE_FULL);
    }
    this.enqueueSplit(alreadyRejected ? OP_DECIDE_FAILED : OP_DECIDE, checks, new Pending(checks, waiter));
  }

  /** `submit` as a promise: resolves with whether every non-shadow check passed; rejects with StoreUnavailableError. */
  decide(checks: readonly Check[], alreadyRejected: boolean): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => this.submit(checks, alreadyRejected, new PromiseWaiter(resolve, reject)));
  }

  /**
   * Leases up to `check.cost` units (global-leased); the grant is in check.remaining when status is ALLOW.
   * While the breaker is open it fails at once (unless it is the probe), as decisions do: before, every
   * global-leased decision waited out store.timeoutMs against a stalled Redis, breaker open or not.
   */
  lease(check: Check): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (!this.available()) return reject(BREAKER_OPEN);
      if (this.queue.length >= this.maxQueued) {
        this.shed++;
        return reject(QUEUE_FULL);
      }
      this.enqueueSplit(OP_LEASE, [check], new Pending([check], new PromiseWaiter(resolve, reject)));
    });
  }

  /** Gives back admissions (fire and forget): a lease release, a refund after a later rejection. */
  refund(checks: readonly Consumption[]): void {
    if (checks.length === 0 || this.closed) return;
    this.enqueueSplit(OP_REFUND, checks, null);
  }

  private enqueueSplit(op: Op, checks: readonly Consumption[], pending: Pending | null): void {
    if (!this.cluster) {
      if (pending) pending.units = 1;
      this.enqueue({ op, checks, pending, slot: 0 });
      return;
    }
    const bySlot = new Map<number, Consumption[]>();
    for (const c of checks) {
      const slot = keySlot(c.rule.redisKeyStart + c.key + c.rule.redisKeyEnd);
      let list = bySlot.get(slot);
      if (!list) bySlot.set(slot, (list = []));
      list.push(c);
    }
    if (pending) pending.units = bySlot.size;
    for (const [slot, list] of bySlot) this.enqueue({ op, checks: list, pending, slot });
  }

  private enqueue(unit: Unit): void {
    this.queue.push(unit);
    if (this.inFlight >= this.maxInFlight || this.flushing) return; // goes out when a call returns
    // a call is out: accumulate until it returns, unless enough has piled up to be worth a call of its own
    if (this.inFlight > 0 && this.queue.length < MIN_SPLIT) return;
    this.flush();
  }

  /**
   * Sends what is queued, split over the free in-flight slots (but not below MIN_SPLIT units a call),
   * so that Redis runs one batch while this process reads the previous reply and builds the next.
   */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      this.flushLoop();
    } finally {
      this.flushing = false;
    }
  }

  private flushLoop(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const free = this.maxInFlight - this.inFlight;
      const size = Math.min(this.maxBatch, Math.max(MIN_SPLIT, Math.ceil(this.queue.length / free)));
      let batch: Unit[];
      if (this.queue.length <= size) {
        batch = this.queue;
        this.queue = [];
      } else batch = this.queue.splice(0, size);
      this.sendRound(batch);
    }
  }

  /** One round: the batch as one call (single node) or one call per slot (Cluster), under one timer. */
  private sendRound(batch: Unit[]): void {
    const calls: Call[] = [];
    if (!this.cluster) calls.push({ units: batch, done: false, late: false });
    else {
      const bySlot = new Map<number, Unit[]>();
      for (const u of batch) {
        let list = bySlot.get(u.slot);
        if (!list) bySlot.set(u.slot, (list = []));
        list.push(u);
      }
      for (const units of bySlot.values()) calls.push({ units, done: false, late: false });
    }
    this.inFlight++;
    let open = calls.length;
    const finishOne = (): void => {
      if (--open === 0) {
        clearTimeout(timer);
        this.inFlight--;
        if (this.queue.length > 0) this.flush();
      }
    };
    const timer = setTimeout(() => {
      const err = new StoreUnavailableError(`Redis did not answer within ${this.timeoutMs} ms`);
      let failed = false;
      for (const call of calls) {
        if (call.done) continue;
        call.done = true;
        call.late = true;
        failed = true;
        this.failUnits(call.units, err);
      }
      if (failed) this.recordError(err);
      // the round no longer holds a slot: a stalled Redis must not stall the queue behind it
      open = -1;
      this.inFlight--;
      if (this.queue.length > 0) this.flush();
    }, this.timeoutMs);

    // a connection known to be broken fails at once; a first connect in progress is waited for
    const status = this.client.status;
    const ready = status !== 'reconnecting' && status !== 'end' && status !== 'close';
    for (const call of calls) {
      if (!ready) {
        call.done = true;
        this.failUnits(call.units, new StoreUnavailableError(`Redis connection is ${this.client.status}`));
        continue;
      }
      this.send(call, () => {
        if (open > 0) finishOne();
      });
    }
    if (!ready) {
      this.recordError(new StoreUnavailableError(`Redis connection is ${this.client.status}`));
      clearTimeout(timer);
      open = -1;
      this.inFlight--;
    }
  }

  private send(call: Call, done: () => void): void {
    // pass 1: keys and the rule table
    const keys: string[] = [];
    const ruleIndex = new Map<CompiledRule, number>();
    let code: string | null = null;
    let mixed = false;
    let decisions = 0;
    for (const u of call.units) {
      if (u.op !== OP_REFUND) decisions += u.checks.length;
      for (const c of u.checks) {
        const rule = c.rule;
        if (!ruleIndex.has(rule)) {
          ruleIndex.set(rule, ruleIndex.size + 1);
          if (code === null) code = rule.code;
          else if (code !== rule.code) mixed = true;
        }
        const key = rule.redisKeyStart + c.key + rule.redisKeyEnd;
        keys.push(key);
        if (rule.code === 'swl') keys.push(key + ':n');
      }
    }
    // pass 2: the arguments, one msgpack array (lua/driver.ts)
    const w = this.writer;
    w.number(this.now === null ? 0 : this.now());
    w.number(ruleIndex.size);
    for (const rule of ruleIndex.keys()) {
      w.string(rule.code);
      w.number(rule.windowMs);
      w.number(rule.luaFlags);
      w.number(rule.luaExtra);
    }
    w.number(call.units.length);
    for (const u of call.units) {
      w.number(unitHeader(u.op, u.checks.length));
      for (const c of u.checks) {
        w.number(ruleIndex.get(c.rule)!);
        w.number(c.limit);
        w.number(c.burst);
        w.number(c.cost);
        if (c.rule.needsToken) w.string(c.token ?? '');
        if (u.op === OP_REFUND) w.number(c.at);
      }
    }
    const argv = w.finish();
    const script = SCRIPTS[mixed || code === null ? 'all' : code]!;
    this.calls++;
    this.decisions += decisions;
    const onReply = (reply: unknown): void => {
      const wasLate = call.late;
      call.done = true;
      if (wasLate) this.cleanupLate(call.units, reply as number[]);
      else {
        this.breaker.success();
        this.applyReply(call.units, reply as number[]);
      }
      done();
    };
    const onFail = (err: Error): void => {
      if (call.done) return done();
      call.done = true;
      const wrapped = new StoreUnavailableError(`Redis script call failed: ${err.message}`, { cause: err });
      this.recordError(wrapped);
      this.failUnits(call.units, wrapped);
      done();
    };
    this.call('evalsha', script.sha, keys, argv).then(onReply, (err: Error) => {
      if (!String(err?.message).startsWith('NOSCRIPT')) return onFail(err);
      // the node lost its script cache (restart, failover, SCRIPT FLUSH): EVAL loads it again
      this.call('eval', script.source, keys, argv).then(onReply, onFail);
    });
  }

  /**
   * One script call, handed to ioredis as a ready Command: `client.evalsha(...)` would go through
   * auto-pipelining (a Pipeline per tick, results redistributed through process.nextTick), which
   * costs more per call than the whole call itself and buys nothing here — a call is already a batch.
   * sendCommand still routes by slot on a Cluster and queues while (re)connecting.
   */
  private call(command: 'eval' | 'evalsha', first: string, keys: string[], argv: Buffer): Promise<unknown> {
    const args: Array<string | number | Buffer> = new Array(keys.length + 3);
    args[0] = first;
    args[1] = keys.length;
    for (let i = 0; i < keys.length; i++) args[i + 2] = keys[i]!;
    args[keys.length + 2] = argv;
    return this.client.sendCommand(new Command(command, args)) as Promise<unknown>;
  }

  private applyReply(units: readonly Unit[], reply: number[]): void {
    const now = reply[0]!;
    let i = 1;
    for (const u of units) {
      if (u.op === OP_REFUND) continue;
      const checks = u.checks as readonly Check[];
      let pass = u.op === OP_DECIDE;
      for (const c of checks) {
        i = u.op === OP_LEASE ? readLease(reply, i, c) : readDecision(reply, i, c);
        c.at = now;
        if (c.status === REJECT && !c.rule.shadow) pass = false;
      }
      if (u.op === OP_LEASE) pass = checks[0]!.status !== REJECT;
      else for (const c of checks) c.committed = pass && c.status !== REJECT && !c.rule.countRejected;
      this.completeUnit(u, pass);
    }
  }

  private completeUnit(u: Unit, pass: boolean): void {
    const p = u.pending;
    if (p === null) return;
    if (!pass) p.pass = false;
    if (--p.units > 0) return;
    this.settle(p);
  }

  private settle(p: Pending): void {
    if (p.error !== null || !p.pass) {
      // a part admitted while another rejected or failed: give the admitted part back
      const committed: Consumption[] = [];
      for (const c of p.checks) {
        if (!c.committed) continue;
        c.committed = false;
        committed.push(snapshot(c));
      }
      if (committed.length > 0) this.refund(committed);
    }
    if (p.error !== null) p.waiter.storeFailed(p.error);
    else p.waiter.storeDone(p.pass);
  }

  private failUnits(units: readonly Unit[], err: Error): void {
    for (const u of units) {
      const p = u.pending;
      if (p === null) continue;
      if (p.error === null) p.error = err;
      if (--p.units === 0) this.settle(p);
    }
  }

  /** A reply after its timeout: the decisions were already taken elsewhere; undo what it admitted. */
  private cleanupLate(units: readonly Unit[], reply: number[]): void {
    const undo: Consumption[] = [];
    const scratch: Result = { status: REJECT, remaining: 0, resetMs: 0, waitMs: 0 };
    const admitted: boolean[] = [];
    let i = 1;
    for (const u of units) {
      if (u.op === OP_REFUND) continue;
      let pass = u.op === OP_DECIDE;
      admitted.length = 0;
      for (const c of u.checks) {
        i = u.op === OP_LEASE ? readLease(reply, i, scratch) : readDecision(reply, i, scratch);
        admitted.push(scratch.status !== REJECT);
        if (scratch.status === REJECT && !c.rule.shadow) pass = false;
        if (u.op === OP_LEASE && scratch.status !== REJECT) undo.push(snapshot(c as Check, scratch.remaining, reply[0]!));
      }
      if (u.op === OP_LEASE || !pass) continue;
      u.checks.forEach((c, j) => {
        if (admitted[j] && !c.rule.countRejected) undo.push(snapshot(c as Check, c.cost, reply[0]!));
      });
    }
    if (undo.length > 0) this.refund(undo);
  }

  private recordError(err: Error): void {
    this.errors++;
    this.breaker.failure(performance.now());
    this.failQueued(err);
    this.onError(err);
  }

  /**
   * The breaker just opened: decisions still queued behind the failed call are failed now (failMode
   * decides them at once, as it does every decision while the breaker is open) instead of going out,
   * round after round, into a stalled server — each round a further timeout (600 decisions queued for
   * calls of 32 waited 2 s behind a 100 ms timeout). Refunds stay queued: nobody waits for them.
   */
  private failQueued(err: Error): void {
    if (this.queue.length === 0) return;
    const keep: Unit[] = [];
    const fail: Unit[] = [];
    for (const u of this.queue) (u.pending === null ? keep : fail).push(u);
    if (fail.length === 0) return;
    this.queue = keep;
    this.failUnits(fail, err);
  }

  /** Resolves once nothing is queued or in flight (or after `timeoutMs`): lets refunds go out before close. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while ((this.queue.length > 0 || this.inFlight > 0) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  close(): void {
    this.closed = true;
    const err = new StoreUnavailableError('the engine is closed');
    const queued = this.queue;
    this.queue = [];
    this.failUnits(queued, err);
  }
}

/** A unit's header in the script's argument (lua/driver.ts): op in the low two bits, the number of checks above. */
function unitHeader(op: Op, checks: number): number {
  return checks * 4 + op;
}

/** One decided check of a reply (lua/driver.ts): status + 4 × remaining, then reset or wait (and wait when queued). */
function readDecision(reply: readonly number[], i: number, out: Result): number {
  const packed = reply[i]!;
  const status = packed % 4;
  out.status = status;
  out.remaining = (packed - status) / 4;
  if (status === ALLOW) {
    out.resetMs = reply[i + 1]!;
    out.waitMs = 0;
    return i + 2;
  }
  if (status === REJECT) {
    out.waitMs = out.resetMs = reply[i + 1]!;
    return i + 2;
  }
  out.resetMs = reply[i + 1]!;
  out.waitMs = reply[i + 2]!;
  return i + 3;
}

/** One leased check of a reply: status, units granted, resetMs, waitMs (the shared budget left when granted). */
function readLease(reply: readonly number[], i: number, out: Result): number {
  out.status = reply[i]!;
  out.remaining = reply[i + 1]!;
  out.resetMs = reply[i + 2]!;
  out.waitMs = reply[i + 3]!;
  return i + 4;
}
