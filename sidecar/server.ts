/**
 * The sidecar, composed: identity, enforcement engine, control-plane subscriber, events, proxy,
 * metrics, policy hot reload, and the admin listener. `startSidecar` runs it in-process (the CLI,
 * tests and the all-in-one demo — which injects its in-memory EventSink and ControlPlane and runs
 * without Redis or Kafka) and returns a handle whose `close()` drains gracefully: stop accepting,
 * let in-flight requests finish for up to `drainSeconds`, release leases, flush events.
 */
import { METHODS } from 'node:http';
import { fastify, type FastifyInstance } from 'fastify';
import type { AddressInfo, Socket } from 'node:net';
import { controlKeys } from '../models/control.js';
import { RedisControlPlane, type ControlPlane } from '../models/controlPlane.js';
import { ErrorCodes, RatewardenError } from '../models/errors.js';
import type { EventSink } from '../models/eventBus.js';
import { DEFAULT_EVENTS_TOPIC } from '../models/events.js';
import { createRedisClient, type KafkaConnection, type RedisClient, type RedisConnection } from '../models/infra.js';
import type { Policy } from '../models/policy/index.js';
import { headerStyles } from './answers/index.js';
import { ControlState } from './control/controlState.js';
import { ControlPlaneSubscriber } from './control/subscriber.js';
import { systemClock, type Clock, type Engine } from './engine/types.js';
import { defaultEngineFactory, type EngineFactory } from './engineLoader.js';
import { UserAgentHasher } from './events/callEvent.js';
import { KafkaEventSink, MeteredEventSink, NullEventSink } from './events/kafkaSink.js';
import { createEventProducer } from './events/producers.js';
import { handleRequest, kExpectContinue, shedQueued, type Runtime } from './handler.js';
import { createJwtVerifier, IdentityResolver, type JwtVerifier } from './identity/index.js';
import { createLogger, type Logger } from './log.js';
import { createSidecarMetrics, type SidecarMetrics } from './metrics.js';
import { LINGER_MS, UpstreamProxy } from './proxy/forward.js';
import { BodyBudget, GRAPHQL_BODY_TIMEOUT_MS, MAX_GRAPHQL_BODIES_BUFFERED } from './graphqlBody.js';
import { PolicyFileWatcher } from './reload.js';
import { maxConnectionsFromEnv } from './config.js';
import { adaptiveGateFor } from './adaptive/index.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface SidecarOptions {
  readonly policy: Policy;
  /** Watched for hot reload when given. */
  readonly policyFile?: string | null;
  /** The text `policy` was parsed from (so the watcher does not reload it at once). */
  readonly policyText?: string;
  /** How `policyText` was made from the file's text, applied to each reload too (PolicyWatcherOptions.rewrite). */
  readonly policyRewrite?: (text: string) => string;
  /** Called with each policy a hot reload applied (the demo hands it to its in-process analyzer). */
  readonly onPolicy?: (policy: Policy) => void;
  readonly upstream: URL | string;
  /** Default 0.0.0.0:8080. */
  readonly listen?: ListenAddress;
  /**
   * Cap on the proxy listener's open connections: one more is closed at once and counted in
   * `connections_refused_total`. Default RW_MAX_CONNECTIONS, else DEFAULT_MAX_CONNECTIONS (10 000).
   */
  readonly maxConnections?: number;
  /** Default 127.0.0.1:9091; null: no admin listener. */
  readonly admin?: ListenAddress | null;
  readonly pod?: string;
  readonly service?: string;
  /** Redis for the store (store.kind redis) and the control plane. */
  readonly redis?: RedisConnection | null;
  /** Kafka for events; without it and without `eventSink`, events are disabled (one log line). */
  readonly kafka?: KafkaConnection | null;
  /** Explicit topic (RW_EVENTS_TOPIC) — wins over the policy's `events.topic`. */
  readonly eventsTopic?: string | null;
  /** Injected event sink (the demo's MemoryEventBus); flushed but not closed at shutdown. */
  readonly eventSink?: EventSink | null;
  /** Injected control plane (the demo's MemoryControlPlane); unsubscribed but not closed at shutdown. */
  readonly controlPlane?: ControlPlane | null;
  /** Control-plane key prefix (RW_CTL_PREFIX), default `rw:ctl`. */
  readonly ctlPrefix?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly drainSeconds?: number;
  /** For JWT secrets and RW_HASH_KEY. */
  readonly env?: NodeJS.ProcessEnv;
  /** The engine (default: createEngine from sidecar/engine). */
  readonly engineFactory?: EngineFactory;
  readonly metrics?: SidecarMetrics;
  /** Fallback poll of the policy file (ms; default 10 s). */
  readonly policyPollMs?: number;
  /** How long a GraphQL body read for pricing may take to arrive in full (ms; default GRAPHQL_BODY_TIMEOUT_MS, 30 s). */
  readonly graphqlBodyTimeoutMs?: number;
  /** Bytes all GraphQL bodies read for pricing may hold together (default MAX_GRAPHQL_BODIES_BUFFERED, 64 MiB). */
  readonly graphqlBodiesMaxBytes?: number;
}

export interface RunningSidecar {
  /** `http://host:port` of the proxy listener. */
  readonly address: string;
  readonly port: number;
  /** `http://host:port` of the admin listener, or null. */
  readonly adminAddress: string | null;
  readonly metrics: SidecarMetrics;
  readonly control: ControlState;
  readonly engine: () => Engine;
  readonly policy: () => Policy;
  /** Applies a new policy now (what the file watcher does); throws and keeps the old one on failure. */
  applyPolicy(policy: Policy): Promise<void>;
  /** The policy file watcher, when a file is watched. */
  readonly watcher: PolicyFileWatcher | null;
  ready(): boolean;
  /** From now on `/readyz` answers 503 while requests are still served as usual (the shutdown delay before the drain). */
  unready(): void;
  close(): Promise<void>;
}

export async function startSidecar(opts: SidecarOptions): Promise<RunningSidecar> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger();
  const metrics = opts.metrics ?? createSidecarMetrics({ defaultMetrics: true });
  const pod = opts.pod ?? env.RW_POD ?? 'sidecar';
  const service = opts.service ?? env.RW_SERVICE ?? 'default';
  const hashKey = env.RW_HASH_KEY || undefined;
  let policy = opts.policy;
  const upstream = typeof opts.upstream === 'string' ? new URL(opts.upstream) : opts.upstream;

  if (policy.store.kind === 'redis' && !opts.redis) {
    throw new RatewardenError(ErrorCodes.CONFIG_STORE, 'store.kind is redis but neither REDIS_URL nor REDIS_CLUSTER_NODES is set');
  }

  // everything opened so far, closed in reverse if start-up fails half way
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  };

  try {
    // ---- Redis (store + control plane: separate connections, so a slow control load never queues behind decisions)
    let storeRedis: RedisClient | null = null;
    let controlRedis: RedisClient | null = null;
    if (opts.redis) {
      controlRedis = createRedisClient(opts.redis, { name: `ratewarden-ctl-${pod}` });
      controlRedis.on('error', () => undefined);
      const c = controlRedis;
      cleanups.push(() => c.quit().catch(() => c.disconnect()));
      if (policy.store.kind === 'redis') {
        storeRedis = createRedisClient(opts.redis, { name: `ratewarden-${pod}` });
        storeRedis.on('error', () => undefined);
        const s = storeRedis;
        cleanups.push(() => s.quit().catch(() => s.disconnect()));
      }
    }

    // ---- control plane
    const control = new ControlState(service);
    const plane = opts.controlPlane ?? (controlRedis ? new RedisControlPlane(controlRedis, controlKeys(opts.ctlPrefix ?? env.RW_CTL_PREFIX ?? 'rw:ctl')) : null);
    let subscriber: ControlPlaneSubscriber | null = null;
    if (plane) {
      subscriber = new ControlPlaneSubscriber(plane, control, { metrics, logger });
      const s = subscriber;
      cleanups.push(() => s.close());
      if (!opts.controlPlane) cleanups.push(() => plane.close());
      await subscriber.start();
    } else {
      logger.info('no control plane (no Redis): overrides, blocks and load multipliers are off');
    }

    // ---- engine
    const factory = opts.engineFactory ?? defaultEngineFactory;
    const engine = await factory({
      policy,
      service,
      redis: storeRedis,
      clock,
      control,
      instanceId: pod,
      hooks: {
        storeError: () => metrics.storeErrors.inc(),
        keysEvicted: (n) => metrics.storeEvictions.inc(n),
      },
    });
    cleanups.push(() => engine.close());
    // ---- identity
    let jwt: JwtVerifier | null = policy.identity.jwt ? await createJwtVerifier(policy.identity.jwt, { env, clock }) : null;

    // ---- events
    let sink: EventSink;
    let ownSink: KafkaEventSink | null = null;
    if (opts.eventSink) sink = new MeteredEventSink(opts.eventSink, metrics);
    else if (opts.kafka) {
      const topic = opts.eventsTopic || policy.events.topic || DEFAULT_EVENTS_TOPIC;
      const { producer, kind } = createEventProducer(opts.kafka, topic, policy.events.compression, `ratewarden-sidecar-${pod}`);
      ownSink = new KafkaEventSink({
        producer,
        bufferSize: policy.events.bufferSize,
        lingerMs: policy.events.lingerMs,
        batchSize: policy.events.batchSize,
        metrics,
        logger,
      });
      ownSink.start();
      sink = ownSink;
      logger.info({ topic, brokers: opts.kafka.brokers, producer: kind }, 'events to Kafka');
    } else {
      sink = new NullEventSink();
      logger.info('events disabled: KAFKA_BROKERS is not set');
    }

    // ---- proxy
    const proxy = new UpstreamProxy(upstream, { connections: policy.upstream.connections, timeoutMs: policy.upstream.timeoutMs });
    cleanups.push(() => proxy.destroy());

    const rt: Runtime = {
      identity: new IdentityResolver(policy, jwt, { hashKey }),
      engine,
      styles: headerStyles(policy.headers),
      rejectInvalidTokens: policy.identity.jwt?.rejectInvalid ?? false,
      failOpen: policy.store.failMode === 'open',
      proxy,
      sink,
      metrics,
      clock,
      logger,
      pod,
      service,
      uaHasher: new UserAgentHasher(),
      proto: 'http',
      draining: false,
      inflight: 0,
      onIdle: null,
      queued: new Set(),
      bodies: new BodyBudget(opts.graphqlBodiesMaxBytes ?? MAX_GRAPHQL_BODIES_BUFFERED, opts.graphqlBodyTimeoutMs ?? GRAPHQL_BODY_TIMEOUT_MS),
      engineErrors: 0,
      adaptive: adaptiveGateFor(null, policy, { registry: metrics.registry }),
    };
    metrics.watchRuntime(rt);

    // ---- the proxy listener: one catch-all route; the reply is hijacked before any body parsing
    const app = fastify({
      logger: false,
      return503OnClosing: false,
      forceCloseConnections: false,
      exposeHeadRoutes: false,
      keepAliveTimeout: 72_000,
      requestTimeout: 0,
      // a path the router cannot decode (`/%zz`) or a huge one is still the upstream's to judge:
      // it goes through the same identify → decide → forward path (and gets its event)
      frameworkErrors(_err, request, reply) {
        reply.hijack();
        handleRequest(rt, request.raw, reply.raw);
      },
    });
    // every method Node parses is the upstream's to judge (WebDAV's PROPFIND, caches' PURGE…), not
    // only the ones fastify knows; CONNECT never reaches a route (Node emits 'connect' instead)
    for (const m of METHODS) if (m !== 'CONNECT' && !app.supportedMethods.includes(m)) app.addHttpMethod(m, { hasBody: true });
    app.route({
      method: [...app.supportedMethods],
      url: '*',
      onRequest(request, reply, done) {
        reply.hijack();
        handleRequest(rt, request.raw, reply.raw);
        done();
      },
      handler() {
        // never reached: the reply is hijacked in onRequest
      },
    });
    // Requests that never reach the proxy make no event, so they are counted: what Node's parser
    // refuses (answered 400, or 431 for headers over 16 KiB, by fastify), and CONNECT, which is not
    // proxied (answered 405 as nginx answers it 400, instead of a silent close)
    app.server.on('clientError', (err: NodeJS.ErrnoException) => {
      if (err.code?.startsWith('HPE_')) metrics.malformedRequests.inc({ reason: err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'unparseable' });
    });
    app.server.on('connect', (_req, socket: Socket) => {
      metrics.malformedRequests.inc({ reason: 'connect' });
      socket.on('error', () => undefined);
      // the socket is no longer the HTTP server's (none of its timeouts apply) and the server allows
      // half-open sockets: after our FIN it stayed open as long as the client kept its side, and
      // close() waited on it. Lingering close as for early answers: discard what comes, close when
      // the client does or after LINGER_MS
      socket.resume();
      socket.once('end', () => socket.destroy());
      const timer = setTimeout(() => socket.destroy(), LINGER_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      socket.end(CONNECT_ANSWER);
    });
    // a client must not hold connections (memory, descriptors) without bound: past the cap Node
    // closes a new connection at once ('drop'), and each one is counted
    app.server.maxConnections = opts.maxConnections ?? maxConnectionsFromEnv(env);
    app.server.on('drop', () => metrics.connectionsRefused.inc());
    // `Expect: 100-continue`: Node would answer 100 at once; we answer it only once the request is admitted
    app.server.on('checkContinue', (req, res) => {
      (req as typeof req & { [kExpectContinue]?: boolean })[kExpectContinue] = true;
      app.server.emit('request', req, res);
    });
    const listen = opts.listen ?? { host: '0.0.0.0', port: 8080 };
    await app.listen({ host: listen.host, port: listen.port });
    cleanups.push(() => app.close());
    const bound = app.server.address() as AddressInfo;
    const address = `http://${urlHost(bound.address)}:${bound.port}`;

    // ---- admin listener (never the public port)
    let ready = false;
    let leaving = false;
    const isReady = (): boolean => ready && !leaving && !rt.draining && (rt.failOpen || rt.engine.storeHealthy());
    let adminApp: FastifyInstance | null = null;
    let adminAddress: string | null = null;
    const adminListen = opts.admin === undefined ? { host: '127.0.0.1', port: 9091 } : opts.admin;
    if (adminListen) {
      adminApp = createAdminApp(metrics, isReady, () => ({ draining: rt.draining, inflight: rt.inflight, storeHealthy: rt.engine.storeHealthy(), controlLoaded: subscriber?.loaded ?? null, controlSeq: control.lastSeq }));
      await adminApp.listen({ host: adminListen.host, port: adminListen.port });
      const a = adminApp;
      cleanups.push(() => a.close());
      const ab = adminApp.server.address() as AddressInfo;
      adminAddress = `http://${urlHost(ab.address)}:${ab.port}`;
    }

    // ---- policy hot reload
    // the store kind the sidecar started with (its connections are opened at start): a reload keeps
    // it, the rest of the new policy applies, and the new kind waits for a restart (logged)
    const storeKind = policy.store.kind;
    const applyPolicy = async (file: Policy): Promise<void> => {
      const next: Policy = file.store.kind === storeKind ? file : { ...file, store: { ...file.store, kind: storeKind } };
      // the key files (and the secret variable) are read again on every reload: a rotated key is
      // taken up by any change to the policy file, without a restart
      const nextJwt = next.identity.jwt ? await createJwtVerifier(next.identity.jwt, { env, clock }) : null;
      const identity = new IdentityResolver(next, nextJwt, { hashKey });
      rt.engine.setPolicy(next);
      for (const note of restartOnlyChanges(policy, file)) logger.warn(`policy reload: ${note} changes only take effect after a restart`);
      jwt = nextJwt;
      rt.identity = identity;
      rt.styles = headerStyles(next.headers);
      rt.rejectInvalidTokens = next.identity.jwt?.rejectInvalid ?? false;
      rt.failOpen = next.store.failMode === 'open';
      proxy.timeoutMs = next.upstream.timeoutMs;
      rt.adaptive = adaptiveGateFor(rt.adaptive ?? null, next, { registry: metrics.registry });
      policy = next;
      opts.onPolicy?.(next);
    };
    let watcher: PolicyFileWatcher | null = null;
    if (opts.policyFile) {
      watcher = new PolicyFileWatcher({ file: opts.policyFile, initialText: opts.policyText, rewrite: opts.policyRewrite, apply: applyPolicy, metrics, logger, hashKey, pollMs: opts.policyPollMs });
      watcher.start();
      const w = watcher;
      cleanups.push(() => w.close());
    }
    ready = true;

    // ---- graceful drain
    const drainMs = Math.max(0, (opts.drainSeconds ?? 10) * 1000);
    let closing: Promise<void> | null = null;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        rt.draining = true;
        proxy.draining = true; // answers in flight end their connections (Connection: close)
        watcher?.close();
        const server = app.server;
        server.close(); // stop accepting; existing connections finish their requests
        server.closeIdleConnections();
        const idle = (ms: number): Promise<void> =>
          rt.inflight === 0
            ? Promise.resolve()
            : new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, ms);
                rt.onIdle = () => {
                  clearTimeout(timer);
                  resolve();
                };
              });
        // queued requests whose turn comes after the drain window are answered now, not cut at its end
        shedQueued(rt, performance.now() + drainMs);
        await idle(drainMs);
        // past the drain window, cut what is left: aborted exchanges still release their leases and emit
        // their event; requests still waiting for an adaptive slot or in a queue are answered first
        rt.adaptive?.shedWaiting();
        shedQueued(rt, -Infinity);
        server.closeAllConnections();
        // the cut exchanges end on their sockets' close events: let them release and emit before the
        // events are flushed and the store closed (they came after both, and were lost)
        await idle(1_000);
        await app.close().catch(() => undefined);
        if (ownSink) await ownSink.close(5_000);
        else await sink.flush().catch(() => undefined);
        await subscriber?.close();
        if (plane && !opts.controlPlane) await plane.close().catch(() => undefined);
        await engine.close().catch(() => undefined);
        rt.adaptive?.close();
        await proxy.close();
        if (adminApp) await adminApp.close().catch(() => undefined);
        for (const r of [storeRedis, controlRedis]) if (r) await r.quit().catch(() => r.disconnect());
      })());

    return {
      address,
      port: bound.port,
      adminAddress,
      metrics,
      control,
      engine: () => rt.engine,
      policy: () => policy,
      applyPolicy,
      watcher,
      ready: isReady,
      unready: () => {
        leaving = true;
      },
      close,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * The answer to CONNECT: a 405 must name the methods the target allows (RFC 9110 §15.5.6), and the
 * sidecar forwards every method Node parses but CONNECT.
 */
const CONNECT_ANSWER = `HTTP/1.1 405 Method Not Allowed\r\nAllow: ${METHODS.filter((m) => m !== 'CONNECT').join(', ')}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;

function urlHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

/** Sections a running sidecar cannot swap (they own connections or buffers). */
function restartOnlyChanges(a: Policy, b: Policy): string[] {
  const notes: string[] = [];
  if (a.store.kind !== b.store.kind) notes.push('store.kind');
  if (JSON.stringify(a.events) !== JSON.stringify(b.events)) notes.push('events');
  if (a.upstream.connections !== b.upstream.connections) notes.push('upstream.connections');
  return notes;
}

export function createAdminApp(metrics: SidecarMetrics, ready: () => boolean, status: () => Record<string, unknown>): FastifyInstance {
  const admin = fastify({ logger: false });
  admin.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  admin.get('/healthz', async () => ({ status: 'ok' }));
  admin.get('/readyz', async (_req, reply) => {
    const ok = ready();
    reply.code(ok ? 200 : 503);
    return { status: ok ? 'ready' : 'not ready', ...status() };
  });
  return admin;
}
