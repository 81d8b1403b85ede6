/**
 * The sidecar's Prometheus metrics (DESIGN.md names, prefix `ratewarden_`). One registry per
 * sidecar instance — never prom-client's global one — so several sidecars in one process (tests,
 * the demo) keep their own counts. Label values are bounded: rule ids come from the policy,
 * decisions and reasons from fixed lists; no client-controlled string ever becomes a label.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram } from './fastMetrics.js';
import { followTotal } from '../models/followTotal.js';

export const METRIC_PREFIX = 'ratewarden_';

/** Sub-millisecond buckets: a decision should add well under a millisecond. */
const DECISION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
const UPSTREAM_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const APPLY_BUCKETS = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];

export interface SidecarMetrics {
  readonly registry: Registry;
  /** Per request: plain in-place counters (fastMetrics.ts), exported through the same registry. */
  readonly requests: FastCounter<'rule' | 'decision'>;
  readonly decisionSeconds: FastHistogram;
  readonly upstreamSeconds: FastHistogram;
  readonly upstreamErrors: Counter<'kind'>;
  readonly storeErrors: Counter;
  readonly storeEvictions: Counter;
  readonly eventsBuffered: Gauge;
  readonly eventsSent: Counter;
  readonly eventsDropped: Counter;
  readonly eventsSendErrors: Counter;
  readonly controlSeq: Gauge;
  readonly controlApplySeconds: Histogram;
  readonly controlBadMessages: Counter;
  /** Control messages older than the state held for their field (ignored). */
  readonly controlStaleMessages: Counter;
  readonly controlReloads: Counter<'cause'>;
  readonly controlReloadErrors: Counter;
  readonly policyReloads: Counter;
  readonly policyReloadErrors: Counter;
  readonly invalidTokens: Counter<'reason'>;
  /** Requests refused because they carried more than one API key or token. */
  readonly ambiguousCredentials: Counter;
  readonly malformedRequests: Counter<'reason'>;
  /** Connections the proxy listener closed at once because it held its cap (RW_MAX_CONNECTIONS). */
  readonly connectionsRefused: Counter;
  /** GraphQL bodies refused unread (graphqlBody.ts BodyRefusal): `too_large` 413, `timeout` 408, `buffer_full` 503. */
  readonly graphqlBodiesRefused: Counter<'reason'>;
  /** Exports the runtime's gauges (requests in flight, keys held, store health), read at scrape time. */
  watchRuntime(rt: { readonly inflight: number; readonly engine: { storeHealthy(): boolean; stats?(): RuntimeStoreStats }; readonly bodies?: { readonly held: number } }): void;
  /** Counts one answered request. */
  countRequest(rule: string | null, decision: string): void;
}

/** What watchRuntime reads from the engine at scrape time (EngineStats, engine/types.ts). */
export interface RuntimeStoreStats {
  readonly keys: number;
  readonly storeCalls?: number;
  readonly storeDecisions?: number;
  readonly storeShed?: number;
  readonly fallbackDecisions?: number;
  readonly unavailableDecisions?: number;
}

export function createSidecarMetrics(opts: { defaultMetrics?: boolean } = {}): SidecarMetrics {
  const registry = new Registry();
  const p = METRIC_PREFIX;
  const requests = new FastCounter<'rule' | 'decision'>(`${p}requests_total`, 'Requests answered, by deciding rule and decision', registry);
  const metrics: SidecarMetrics = {
    registry,
    requests,
    decisionSeconds: new FastHistogram(`${p}decision_seconds`, 'Time to identify the caller and decide (store round trip included)', DECISION_BUCKETS, registry),
    upstreamSeconds: new FastHistogram(`${p}upstream_seconds`, 'Upstream time to response headers', UPSTREAM_BUCKETS, registry),
    upstreamErrors: new Counter({ name: `${p}upstream_errors_total`, help: 'Upstream failures answered 502/504 (never counted against the client)', labelNames: ['kind'] as const, registers: [registry] }),
    storeErrors: new Counter({ name: `${p}store_errors_total`, help: 'Store calls that failed or timed out (failMode applied)', registers: [registry] }),
    storeEvictions: new Counter({ name: `${p}store_evictions_total`, help: 'Keys evicted from the bounded memory store (LRU full)', registers: [registry] }),
    eventsBuffered: new Gauge({ name: `${p}events_buffered`, help: 'Call events waiting for delivery', registers: [registry] }),
    eventsSent: new Counter({ name: `${p}events_sent_total`, help: 'Call events delivered to the event bus', registers: [registry] }),
    eventsDropped: new Counter({ name: `${p}events_dropped_total`, help: 'Call events dropped (buffer full: oldest first, or undeliverable at shutdown)', registers: [registry] }),
    eventsSendErrors: new Counter({ name: `${p}events_send_errors_total`, help: 'Failed event batch deliveries (retried with backoff)', registers: [registry] }),
    controlSeq: new Gauge({ name: `${p}control_seq`, help: 'Highest control-plane seq applied', registers: [registry] }),
    controlApplySeconds: new Histogram({ name: `${p}control_apply_seconds`, help: 'Time to decode and apply one control message or a full reload', buckets: APPLY_BUCKETS, registers: [registry] }),
    controlBadMessages: new Counter({ name: `${p}control_bad_messages_total`, help: 'Control messages or stored fields that did not decode (ignored)', registers: [registry] }),
    controlStaleMessages: new Counter({ name: `${p}control_stale_messages_total`, help: 'Control messages ignored because the state held for their field is newer (a later write or a full load got there first)', registers: [registry] }),
    controlReloads: new Counter({ name: `${p}control_reloads_total`, help: 'Full control-state loads, by cause', labelNames: ['cause'] as const, registers: [registry] }),
    controlReloadErrors: new Counter({ name: `${p}control_reload_errors_total`, help: 'Full control-state loads that failed (the state held is kept; retried with backoff)', registers: [registry] }),
    policyReloads: new Counter({ name: `${p}policy_reloads_total`, help: 'Policy file changes applied', registers: [registry] }),
    policyReloadErrors: new Counter({ name: `${p}policy_reload_errors_total`, help: 'Policy file changes rejected (the previous policy stays)', registers: [registry] }),
    ambiguousCredentials: new Counter({ name: `${p}ambiguous_credentials_total`, help: 'Requests refused (400) for carrying more than one API key (header repeated, parameter repeated, or header and parameter disagreeing) or more than one JWT (token header repeated)', registers: [registry] }),
    malformedRequests: new Counter({ name: `${p}malformed_requests_total`, help: 'Requests Node answered before the proxy saw them (unparseable, headers too large: 400/431) or CONNECT (405); they make no event', labelNames: ['reason'], registers: [registry] }),
    connectionsRefused: new Counter({ name: `${p}connections_refused_total`, help: 'Connections the proxy listener closed at once, unread, because it already held its cap (RW_MAX_CONNECTIONS)', registers: [registry] }),
    graphqlBodiesRefused: new Counter({
      name: `${p}graphql_bodies_refused_total`,
      help: 'GraphQL request bodies the sidecar refused to read for pricing: too_large (413), timeout (408: not in full in time), buffer_full (503: the bodies held took the whole budget)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    invalidTokens: new Counter({ name: `${p}invalid_tokens_total`, help: 'Presented JWTs that were not accepted as an identity', labelNames: ['reason'] as const, registers: [registry] }),
    watchRuntime(rt) {
      new Gauge({
        name: `${p}inflight_requests`,
        help: 'Requests being handled',
        registers: [registry],
        collect() {
          this.set(rt.inflight);
        },
      });
      const bodies = rt.bodies;
      if (bodies !== undefined) {
        new Gauge({
          name: `${p}graphql_body_bytes_buffered`,
          help: 'Bytes held by GraphQL request bodies being read or held for pricing (bounded by the sidecar budget)',
          registers: [registry],
          collect() {
            this.set(bodies.held);
          },
        });
      }
      const engine = () => rt.engine;
      new Gauge({
        name: `${p}store_keys`,
        help: 'Keys held by the memory stores',
        registers: [registry],
        collect() {
          const stats = engine().stats?.();
          if (stats) this.set(stats.keys);
        },
      });
      // batching on Redis: decisions / calls is the mean batch a script call carried
      followTotal(`${p}store_calls_total`, 'Script calls sent to the Redis store (each carries a batch of decisions)', registry, () => engine().stats?.().storeCalls);
      followTotal(`${p}store_decisions_total`, 'Decisions sent to the Redis store (a global-leased slice fetch counts as one)', registry, () => engine().stats?.().storeDecisions);
      followTotal(
        `${p}store_shed_total`,
        'Decisions not sent to the Redis store because its queue was full (Redis slower than the request rate); failMode applied',
        registry,
        () => engine().stats?.().storeShed,
      );
      // decided without the shared store: the contract's requests_total cannot tell them apart
      // (a fail-open decision is `allowed` or `limited`, a fail-closed 503 `limited`)
      followTotal(
        `${p}store_fallback_decisions_total`,
        'Requests decided by the local fail-open fallback because the shared store did not answer (failMode open; shared limits divided among store.replicas)',
        registry,
        () => engine().stats?.().fallbackDecisions,
      );
      followTotal(
        `${p}store_unavailable_total`,
        'Requests answered 503 because the shared store did not answer (failMode closed)',
        registry,
        () => engine().stats?.().unavailableDecisions,
      );
      new Gauge({
        name: `${p}store_healthy`,
        help: '1 when the rate-limit store answers',
        registers: [registry],
        collect() {
          this.set(engine().storeHealthy() ? 1 : 0);
        },
      });
    },
    countRequest(rule, decision) {
      requests.inc((rule ?? '') + '\u0000' + decision, () => ({ rule: rule ?? 'none', decision }));
    },
  };
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: `${p}sidecar_` });
  return metrics;
}
