/**
 * One request through the sidecar: identify → (read a GraphQL body when a rule prices it) →
 * decide → answer or forward → count, release, emit one CallEvent. The only awaits are the engine's
 * store round trip (and a JWT verification on a cache miss); metrics are in-memory counters and the
 * event goes to a non-blocking sink.
 *
 * Everything that can change at runtime (policy reload, drain) lives in the mutable Runtime the
 * handler reads per request, so a reload swaps a pointer and never disturbs requests in flight.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Decision } from '../models/events.js';
import type { EventSink } from '../models/eventBus.js';
import { appendRateLimitHeaders, badRequest, blocked, bodiesBufferFull, draining, invalidToken, notImplemented, payloadTooLarge, rateLimited, requestTimeout, sendProblem, storeUnavailable, type HeaderList, type HeaderStyles, type Problem } from './answers/index.js';
import type { Clock, Engine, Verdict } from './engine/types.js';
import { callEvent, UserAgentHasher } from './events/callEvent.js';
import { bodyRefusedOnSight, graphqlRequest, MAX_GRAPHQL_BODY, readBody, type BodyBudget, type BodyRefusal } from './graphqlBody.js';
import type { Identified, IdentityResolver } from './identity/index.js';
import { IncomingFacts } from './identity/index.js';
import { safe, type Logger } from './log.js';
import type { SidecarMetrics } from './metrics.js';
import { overloaded, settleForward, SHED_VERDICT, type AdaptiveGate, type Permit, type ShedReason, type Ticket, type Waiter } from './adaptive/index.js';
import { lingerAfter, upstreamNeverAnswered, type ForwardResult, type UpstreamProxy } from './proxy/forward.js';
import { upstreamRequestHeaders } from './proxy/headers.js';
import { toOriginForm } from './proxy/target.js';

export interface Runtime {
  identity: IdentityResolver;
  engine: Engine;
  styles: HeaderStyles;
  rejectInvalidTokens: boolean;
  failOpen: boolean;
  readonly proxy: UpstreamProxy;
  readonly sink: EventSink;
  readonly metrics: SidecarMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pod: string;
  readonly service: string;
  readonly uaHasher: UserAgentHasher;
  readonly proto: string;
  draining: boolean;
  inflight: number;
  /** Called when inflight drops to 0 while draining. */
  onIdle: (() => void) | null;
  /** Errors the engine threw (a bug, not a store failure): logged once per 1000. */
  engineErrors: number;
  /** Adaptive concurrency toward the upstream (policy upstream.adaptiveConcurrency), or null. */
  adaptive?: AdaptiveGate | null;
  /** Requests held by a queue verdict (leaky bucket `mode: queue`) until their turn: answered, not cut, by a drain (shedQueued). */
  readonly queued: Set<QueuedRequest>;
  /** What the GraphQL bodies read for pricing may hold together, and how long one may take to arrive. */
  readonly bodies: BodyBudget;
}

export interface QueuedRequest {
  /** When (performance.now() ms) it is due to be forwarded. */
  readonly dueAt: number;
  /** Answers it 503 shutting_down now (never forwarded: its admission is given back). */
  shed(): void;
}

/**
 * A drain: requests still queued that would only be forwarded after `deadline` (performance.now()
 * ms; -Infinity: every one) are answered 503 shutting_down at once — the drain would otherwise cut
 * their connections, with no answer, once its time is up.
 */
export function shedQueued(rt: Runtime, deadline: number): void {
  for (const q of rt.queued) if (q.dueAt > deadline) q.shed();
}

const ANSWERED = { allowed: 'allowed' } as const;
/** Marks an answer the sidecar made for a reason of its own (Exchange.finish): the event gets `selfAnswered: true`. */
const SELF = true;

/**
 * Set on requests that sent `Expect: 100-continue` (server.ts routes Node's 'checkContinue' here):
 * the client waits for `100 Continue` before sending its body, so a request we reject never
 * uploads it, and one we forward gets the go-ahead only once admitted.
 */
export const kExpectContinue = Symbol('ratewarden.expectContinue');

function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  const r = req as IncomingMessage & { [kExpectContinue]?: boolean };
  if (r[kExpectContinue]) {
    r[kExpectContinue] = false;
    if (!res.headersSent && !res.destroyed) res.writeContinue();
  }
}

/** Entry point for one request (the fastify route hijacks the reply and calls this). */
export function handleRequest(rt: Runtime, req: IncomingMessage, res: ServerResponse): void {
  new Exchange(rt, req, res).start();
}

class Exchange implements Waiter, QueuedRequest {
  private readonly arrival = performance.now();
  /**
   * Slot under the adaptive concurrency limit (sidecar/adaptive/gate.ts), held until the upstream's
   * response headers arrive (or the forward fails), not through the body: a stream or a long
   * download must not hold a slot. Settled once (Permit ignores later calls); null once settled.
   */
  private permit: Permit | null = null;
  private readonly ts: number;
  private identified: Identified | null = null;
  private verdict: Verdict | null = null;
  private body: Buffer | null = null;
  /** Bytes of rt.bodies the body holds, given back in finish. */
  private bodyHeld = 0;
  private done = false;
  private queueTimer: NodeJS.Timeout | null = null;
  dueAt = 0;
  /** The request was handed to the upstream proxy (from then on its answer is the upstream's, or about it). */
  private forwarded = false;
  /** Queued for an adaptive-concurrency slot (between gate.admit and onAdmit/onShed). */
  private waiting = false;
  /** Its place in that queue (and the gate's), given back if the client leaves meanwhile. */
  private ticket: { gate: AdaptiveGate; ticket: Ticket } | null = null;

  constructor(
    private readonly rt: Runtime,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.ts = rt.clock.now();
  }

  start(): void {
    const rt = this.rt;
    rt.inflight++;
    if (rt.draining) {
      this.answer(draining(), [], 'allowed', ['connection', 'close'], SELF);
      return;
    }
    const url = this.req.url;
    if (url === undefined || url.charCodeAt(0) !== 47 /* / */) {
      // an absolute-form target becomes the path it names; `*` (OPTIONS *) is not for a sidecar in front of one app
      const refused = toOriginForm(this.req);
      if (refused !== null) {
        this.answer(badRequest(refused), [], 'allowed', undefined, SELF);
        return;
      }
    }
    const te = this.req.headers['transfer-encoding'];
    if (te !== undefined && (te.length !== 7 || te.toLowerCase() !== 'chunked')) {
      // a coding over the chunked framing (`gzip, chunked`): Node removes only the framing, and the
      // upstream would take the still-coded bytes for the body. 501 (RFC 9112 §6.1), as nginx answers
      // it; the framing itself is understood, so the connection reads past the body and goes on
      this.answer(notImplemented(`the transfer coding "${te.slice(0, 64)}" is not supported: only chunked`), [], 'allowed', undefined, SELF);
      return;
    }
    let identified: Identified | Promise<Identified>;
    try {
      identified = rt.identity.resolve(this.req);
    } catch (err) {
      this.internalError(err as Error);
      return;
    }
    if (identified instanceof Promise) identified.then(this.onIdentified, (err: Error) => this.internalError(err));
    else this.onIdentified(identified);
  }

  private readonly onIdentified = (id: Identified): void => {
    this.identified = id;
    const rt = this.rt;
    if (id.ambiguousCredential !== null) {
      // which of its keys the upstream reads is not known: neither may be charged or blocked as "the" key
      rt.metrics.ambiguousCredentials.inc();
      this.answer(badRequest(id.ambiguousCredential), [], 'allowed', undefined, SELF);
      return;
    }
    if (id.invalidToken !== null) {
      rt.metrics.invalidTokens.inc({ reason: id.invalidToken });
      if (rt.rejectInvalidTokens) {
        this.answer(invalidToken(), [], 'allowed', ['www-authenticate', 'Bearer error="invalid_token"'], SELF);
        return;
      }
    }
    const f = id.facts;
    if (rt.engine.needsBody(f.method, f.path, f.host)) {
      // refused on sight: a client waiting for `100 Continue` is not invited to upload it
      const refused = bodyRefusedOnSight(this.req, MAX_GRAPHQL_BODY, rt.bodies);
      if (refused !== null) {
        this.refuseBody(refused);
        return;
      }
      continueIfExpected(this.req, this.res);
      readBody(this.req, MAX_GRAPHQL_BODY, rt.bodies).then(
        (read) => {
          if (typeof read === 'string') {
            this.refuseBody(read);
            return;
          }
          if (this.done) {
            rt.bodies.give(read.held);
            return;
          }
          this.body = read.body;
          this.bodyHeld = read.held;
          (f as IncomingFacts).graphql = graphqlRequest(f.method, this.req.url ?? '/', this.req.headers['content-type'], read.body, this.req.headers['content-encoding']);
          this.decide();
        },
        () => this.finish(499, 0, 0),
      );
      return;
    }
    this.decide();
  };

  /** A GraphQL body not read (too large, too slow, no room in rt.bodies): answered, counted, and the connection closed. */
  private refuseBody(why: BodyRefusal): void {
    this.rt.metrics.graphqlBodiesRefused.inc({ reason: why });
    // the rest of the body is read and discarded for a while after the answer (a lingering close):
    // closing over unread bytes would reset the connection, and the client could lose the answer
    if (!this.req.complete) lingerAfter(this.res);
    const problem =
      why === 'too_large'
        ? payloadTooLarge(`a GraphQL request body larger than ${MAX_GRAPHQL_BODY} bytes cannot be priced`)
        : why === 'timeout'
          ? requestTimeout(`the GraphQL request body did not arrive in full within ${this.rt.bodies.timeoutMs / 1000} s`)
          : bodiesBufferFull('the sidecar holds as many GraphQL request bodies as it may; retry shortly');
    this.answer(problem, [], 'allowed', ['connection', 'close'], SELF);
  }

  private decide(): void {
    const gate = this.rt.adaptive;
    if (gate != null && this.permit === null) {
      this.waiting = true;
      const ticket = gate.admit(this.identified!.facts.tier, this); // → onAdmit (now or after a short wait) or onShed
      // queued: a client that leaves meanwhile is done (499) and leaves the queue — it spends no
      // budget, and is no shed
      if (this.waiting && ticket !== null) {
        this.ticket = { gate, ticket };
        this.res.once('close', this.onGoneWhileWaiting);
        if (this.res.destroyed) this.onGoneWhileWaiting(); // gone before it was queued: 'close' has fired already
      }
      return;
    }
    let decision: Promise<Verdict>;
    try {
      decision = this.rt.engine.decide(this.identified!.facts);
    } catch (err) {
      this.onEngineError(err as Error);
      return;
    }
    decision.then(this.onVerdict, (err: Error) => this.onEngineError(err));
  }

  onAdmit(permit: Permit): void {
    this.stopWaiting();
    this.permit = permit;
    if (this.done) {
      // the client left while it waited: the slot goes back at once, nothing is decided or forwarded
      this.permit = null;
      permit.ignore();
    } else this.decide();
  }

  /**
   * Shed by the adaptive limit: 503 before the engine is asked, so it costs no budget. Still waiting
   * when the drain window ends (`shutdown`): 503 shutting_down, as any request cut by the shutdown.
   */
  onShed(reason: ShedReason): void {
    this.stopWaiting();
    if (this.done) return; // the client left while it waited
    if (reason === 'shutdown') {
      this.answer(draining(), [], 'allowed', ['connection', 'close'], SELF);
      return;
    }
    this.verdict = SHED_VERDICT;
    this.answer(overloaded(), [], 'limited', undefined, SELF);
  }

  private readonly onGoneWhileWaiting = (): void => {
    if (!this.waiting || this.done) return;
    const queued = this.ticket;
    this.stopWaiting();
    queued?.gate.withdraw(queued.ticket);
    this.finish(499, 0, 0);
  };

  private stopWaiting(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.ticket = null;
    this.res.off('close', this.onGoneWhileWaiting);
  }

  /**
   * A throw while answering (a bug, a value no answer can hold) must not become an unhandled
   * rejection, which ends the process: it is this request's internal error (a try costs nothing,
   * where a .catch() would add a promise to every request).
   */
  private readonly onVerdict = (verdict: Verdict): void => {
    try {
      this.answerVerdict(verdict);
    } catch (err) {
      this.internalError(err as Error);
    }
  };

  private answerVerdict(verdict: Verdict): void {
    const rt = this.rt;
    this.verdict = verdict;
    if (verdict.kind !== 'allow' && this.permit !== null) {
      // not forwarded now (or, for a queue verdict, only after a pacing delay): free the slot
      this.permit.ignore();
      this.permit = null;
    }
    rt.metrics.decisionSeconds.observe((performance.now() - this.arrival) / 1000);
    const headers: HeaderList = [];
    if (verdict.headline !== null) appendRateLimitHeaders(headers, verdict.headline, rt.styles, rt.clock.now(), verdict.kind === 'limit');
    switch (verdict.kind) {
      case 'allow':
        this.forward(headers);
        return;
      case 'queue':
        this.queueTimer = setTimeout(() => {
          this.queueTimer = null;
          rt.queued.delete(this);
          this.res.off('close', this.onQueuedClose);
          this.forward(headers);
        }, verdict.delayMs);
        this.dueAt = performance.now() + verdict.delayMs;
        rt.queued.add(this);
        this.res.once('close', this.onQueuedClose);
        if (this.res.destroyed) this.onQueuedClose(); // gone while it was decided: 'close' has fired already
        return;
      case 'limit':
        this.answer(rateLimited(verdict), headers, verdict.decision);
        return;
      case 'block':
        this.answer(blocked(verdict.block ?? { until: rt.clock.now() + (verdict.retryAfterMs ?? 1000), reason: 'blocked' }, rt.clock.now()), headers, verdict.decision);
        return;
      case 'bad-request':
        this.answer(badRequest(verdict.detail ?? 'the request cannot be priced'), headers, verdict.decision);
        return;
      case 'unavailable': {
        const p = storeUnavailable(verdict.detail);
        this.answer(verdict.retryAfterMs !== undefined ? { ...p, retryAfter: Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)) } : p, headers, verdict.decision);
        return;
      }
    }
  }

  private readonly onQueuedClose = (): void => {
    if (this.queueTimer !== null) {
      clearTimeout(this.queueTimer);
      this.queueTimer = null;
      this.rt.queued.delete(this);
      // gone before it left the queue: never forwarded, so it spends no budget and its place is free
      this.verdict?.refund?.();
      this.finish(499, 0, 0);
    }
  };

  shed(): void {
    if (this.queueTimer === null) return;
    clearTimeout(this.queueTimer);
    this.queueTimer = null;
    this.rt.queued.delete(this);
    this.res.off('close', this.onQueuedClose);
    this.verdict?.refund?.(); // never forwarded
    this.answer(draining(), [], 'allowed', ['connection', 'close'], SELF);
  }

  /** The engine threw (not a store failure — those are the engine's failMode). Fail as the policy says. */
  private onEngineError(err: Error): void {
    const rt = this.rt;
    rt.engineErrors++;
    if (rt.engineErrors === 1 || rt.engineErrors % 1000 === 0) rt.logger.error({ err: safe(err.stack ?? err.message, 2000), count: rt.engineErrors }, 'engine error');
    if (rt.failOpen) this.forward([]);
    else this.answer(storeUnavailable('the rate limiter failed'), [], 'allowed', undefined, SELF);
  }

  private forward(headers: HeaderList): void {
    const req = this.req;
    if (this.res.destroyed) {
      this.finish(499, 0, 0);
      return;
    }
    const id = this.identified!;
    continueIfExpected(req, this.res);
    const cl = req.headers['content-length'];
    const streamBody = req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
    const upstreamHeaders = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, { peer: id.peer, peerTrusted: id.peerTrusted, client: id.client, proto: this.rt.proto });
    this.forwarded = true;
    this.rt.proxy.forward(
      this.res,
      {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: upstreamHeaders,
        body: this.body ?? (streamBody ? req : null),
        responseHeaders: headers,
      },
      this.onForwarded,
      this.onUpstreamHeaders,
    );
  }

  /**
   * The upstream's response headers arrived: the adaptive permit is settled now, with the RTT to
   * headers as its sample (what the limit strategies learn from), so a streamed or long body holds no
   * slot. The request's own event and metrics still wait for the whole response (onForwarded).
   */
  private readonly onUpstreamHeaders = (status: number, upstreamMs: number): void => {
    const permit = this.permit;
    if (permit === null) return;
    this.permit = null;
    settleForward(permit, status, upstreamMs, null, performance.now() - this.arrival);
  };

  private readonly onForwarded = (r: ForwardResult): void => {
    if (r.upstreamMs !== null) this.rt.metrics.upstreamSeconds.observe(r.upstreamMs / 1000);
    // `invalid`: a malformed request the sidecar refused (400) without asking the upstream
    const refused = r.failure === 'invalid';
    if (r.failure !== null && r.failure !== 'aborted' && !refused) this.rt.metrics.upstreamErrors.inc({ kind: r.failure });
    // still held only when no response headers came (failed, timed out or abandoned before them)
    if (this.permit !== null) {
      const permit = this.permit;
      this.permit = null;
      if (refused) permit.ignore();
      else settleForward(permit, r.status, r.upstreamMs, r.failure, performance.now() - this.arrival);
    }
    // a 502/504 the sidecar made (the upstream never answered) is never counted against the client
    if (upstreamNeverAnswered(r)) this.verdict?.refund?.();
    this.finish(r.status, r.bytesIn, r.bytesOut, undefined, refused);
  };

  /** `self`: the sidecar answers for a reason of its own, not a limit or block decision (see finish). */
  private answer(problem: Problem, headers: HeaderList, decision: Decision, extra?: HeaderList, self = false): void {
    if ((this.req as IncomingMessage & { [kExpectContinue]?: boolean })[kExpectContinue] || (this.rt.draining && !extra?.includes('connection'))) {
      // the body was never invited: end the connection rather than wait for (or read) it; or the
      // sidecar drains: the connection is about to close, no client may reuse it
      extra = extra ? [...extra, 'connection', 'close'] : ['connection', 'close'];
    }
    const bytesOut = sendProblem(this.res, problem, headers, extra);
    const cl = Number(this.req.headers['content-length']);
    this.finish(problem.status, this.body?.length ?? (Number.isFinite(cl) ? cl : 0), bytesOut, decision, self);
  }

  private internalError(err: Error): void {
    this.rt.logger.error({ err: safe(err.stack ?? err.message, 2000) }, 'request handling failed');
    // the 503 is the sidecar's own unless the upstream was already called (then it reports on that call)
    if (!this.res.headersSent) this.answer(storeUnavailable('internal error'), [], 'allowed', undefined, !this.forwarded);
    else this.finish(500, 0, 0);
  }

  /**
   * `self`: the sidecar answered this request itself and never called the upstream, for a
   * reason other than a limit or block decision — draining, a refused (malformed, unauthenticated,
   * oversized) request, an adaptive-concurrency shed, an internal error. The event then carries
   * `selfAnswered: true`, so the analyzer's load watcher does not read it as the upstream's answer;
   * every other event leaves the field out (models/events.ts).
   */
  private finish(status: number, bytesIn: number, bytesOut: number, decision?: Decision, self = false): void {
    if (this.done) return;
    this.done = true;
    if (this.bodyHeld !== 0) {
      this.rt.bodies.give(this.bodyHeld);
      this.bodyHeld = 0;
    }
    if (this.permit !== null) {
      // not forwarded (or abandoned before forwarding): free the slot without a sample
      this.permit.ignore();
      this.permit = null;
    }
    const rt = this.rt;
    const v = this.verdict;
    if (v !== null && v.release !== undefined) {
      try {
        v.release();
      } catch {
        // a release that throws must not cost the event
      }
    }
    const d = decision ?? v?.decision ?? ANSWERED.allowed;
    const rule = v?.rule ?? null;
    rt.metrics.countRequest(rule, d);
    const f = this.identified?.facts;
    const req = this.req;
    rt.sink.publish(
      callEvent({
        ts: this.ts,
        pod: rt.pod,
        service: rt.service,
        method: req.method ?? 'GET',
        path: f?.path ?? pathOf(req.url),
        status,
        latencyMs: performance.now() - this.arrival,
        bytesIn,
        bytesOut,
        ip: f?.ip ?? req.socket.remoteAddress ?? '',
        client: f?.clientKey ?? 'ip:' + (req.socket.remoteAddress ?? ''),
        user: f?.user ?? null,
        uaHash: rt.uaHasher.hash(req.headers['user-agent']),
        decision: d,
        rule,
        cost: v?.cost ?? 0,
        tier: f?.tier ?? '',
        selfAnswered: self,
      }),
    );
    rt.inflight--;
    if (rt.draining && rt.inflight === 0) rt.onIdle?.();
  }
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
