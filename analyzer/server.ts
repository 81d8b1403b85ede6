/**
 * The analyzer as a service: consumes an EventSource (Kafka in production, MemoryEventBus in the
 * demo), ticks the Analyzer every second (window closing, scoring and decisions happen there, never
 * on the ingest path), and serves `/metrics`, `/healthz` and `/readyz` on a fastify instance that other
 * features register onto — the operator API and UI (`plugins`), the load controller later.
 *
 *   const running = await startAnalyzer({ policy, source, controlPlane, reports, listen: { host, port } });
 *   running.state.analyzer.client('apiKey:…');   // baselines and recent windows
 *   await running.close();
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { ControlPlane } from '../models/controlPlane.js';
import { logLevelFromEnv } from '../models/infra.js';
import type { EventSource } from '../models/eventBus.js';
import type { Policy } from '../models/policy/index.js';
import type { AutoencoderScorer } from '../models/ml/autoencoder.js';
import { Analyzer, type LogFn } from './analyzer.js';
import { loadSeriesFactory, type SeriesFactory } from './detectors/seriesScorer.js';
import { AnalyzerMetrics } from './metrics.js';
import { loadAutoencoder, loadStartModel, retrain } from './model.js';
import type { DetectionOptions } from './options.js';
import type { ReportPublisher } from './reports/publisher.js';
import type { ReportStore } from './reports/store.js';
import type { RestorerLimits } from './state/restorer.js';
import { StateSnapshotter } from './state/snapshotter.js';
import type { ClientStateStore } from './state/stateStore.js';

/** What plugins and embedders get: the live analyzer and the parts it writes through. */
export interface AnalyzerState {
  readonly analyzer: Analyzer;
  readonly metrics: AnalyzerMetrics;
  readonly controlPlane: ControlPlane;
  readonly reports: ReportStore;
  readonly publisher: ReportPublisher | null;
  readonly source: EventSource;
  /** The current policy (follows setPolicy). */
  policy(): Policy;
  /** False until the event source is consuming; false again while closing. */
  readonly consuming: boolean;
  /** Why the learned model is not in use, if it is not. */
  readonly modelError: string | null;
  /** The state snapshot writer, when state snapshots are on. */
  readonly snapshots: StateSnapshotter | null;
}

/** Registers routes (or anything else) on the analyzer's fastify instance before it listens. */
export type AnalyzerPlugin = (app: FastifyInstance, state: AnalyzerState) => void | Promise<void>;

export interface StartAnalyzerOptions {
  readonly policy: Policy;
  readonly source: EventSource;
  readonly controlPlane: ControlPlane;
  readonly reports: ReportStore;
  readonly publisher?: ReportPublisher | null;
  /** HTTP listener; null: no HTTP server (the state is still returned). Default 0.0.0.0:9090. */
  readonly listen?: { readonly host: string; readonly port: number } | null;
  readonly plugins?: readonly AnalyzerPlugin[];
  /** The learned model: `shipped` (default), a directory, an already loaded scorer, or null for none. */
  readonly model?: 'shipped' | string | AutoencoderScorer | null;
  /** Retrain on the analyzer's clean windows every `everyMs`, writing versions under `outDir` and keeping the newest `keep` (default 5). */
  readonly retrain?: { readonly everyMs: number; readonly outDir: string; readonly keep?: number } | null;
  readonly series?: SeriesFactory;
  readonly detection?: Partial<DetectionOptions>;
  readonly clock?: () => number;
  readonly tickIntervalMs?: number;
  /** fastify logger: false (silent), true, or pino options. Default: info level. */
  readonly logger?: boolean | Record<string, unknown>;
  readonly instance?: string;
  readonly metrics?: AnalyzerMetrics;
  /** Sum of consumer lag, polled for the consumer_lag gauge when the source does not push it. */
  readonly lag?: () => number;
  /**
   * What `/readyz` also needs besides a running consumer: each named dependency's health now (the
   * CLI gives `redis`: reports, control plane and state live there, so the operator API cannot work
   * without it). Default: none.
   */
  readonly dependencies?: () => Readonly<Record<string, boolean>>;
  /**
   * State snapshots (analyzer/state/): clients are restored from `store` on their first event, and
   * written back every `snapshotEveryMs` (default 60 s), within a second of a decision, when they
   * leave, and at close. At start the group's warm-up mark and population rings are read (≤ 5 s).
   */
  readonly state?: { readonly store: ClientStateStore; readonly snapshotEveryMs?: number; readonly restoreLimits?: Partial<RestorerLimits> } | null;
}

export interface RunningAnalyzer {
  /** `http://host:port` of the listener, or null without one. */
  readonly address: string | null;
  readonly app: FastifyInstance;
  readonly state: AnalyzerState;
  /** Stops consuming and ticking; `snapshot: false` skips the final state flush (tests simulate a crash with it). */
  close(opts?: { snapshot?: boolean }): Promise<void>;
}

export async function startAnalyzer(options: StartAnalyzerOptions): Promise<RunningAnalyzer> {
  // a hybrid client key in /api/clients/:key is longer than fastify's default 100-character parameter;
  // no length is refused by the router (its bare 414 was no problem body, and came before the token
  // was checked): the request line is bounded by Node's header size limit, and the API's own schemas
  // answer a parameter too long to be anything (404 for an anomaly id, 400 for a client key)
  const app = Fastify({ logger: options.logger ?? { level: logLevelFromEnv(process.env) }, routerOptions: { maxParamLength: Number.MAX_SAFE_INTEGER } });
  const logger = app.log;
  const log: LogFn = (level, msg, fields) => logger[level](fields ?? {}, msg);
  const clock = options.clock ?? Date.now;
  const metrics = options.metrics ?? new AnalyzerMetrics(true);

  let autoencoder: AutoencoderScorer | null = null;
  let modelError: string | null = null;
  const model = options.model === undefined ? 'shipped' : options.model;
  if (model !== null) {
    try {
      // `shipped` with retraining on: the newest retrained version under its outDir that loads, else the shipped one
      autoencoder = typeof model === 'string' ? await (model === 'shipped' ? loadStartModel(options.retrain?.outDir ?? null, log) : loadAutoencoder(model, log)) : model;
    } catch (err) {
      // the other detectors work without it; say so on /healthz and in the log
      modelError = (err as Error).message;
      log('warn', `learned model not loaded, continuing without it: ${modelError}`);
    }
  }
  const series = options.series ?? (await loadSeriesFactory());
  log('info', `series detector: ${series.name}`);

  const analyzer = new Analyzer({
    policy: options.policy,
    controlPlane: options.controlPlane,
    reports: options.reports,
    ...(options.publisher ? { publisher: options.publisher } : {}),
    clock,
    ...(options.detection ? { detection: options.detection } : {}),
    autoencoder,
    series,
    metrics,
    log,
    ...(options.instance ? { instance: options.instance } : {}),
    ...(options.state ? { state: options.state.store, ...(options.state.restoreLimits ? { restoreLimits: options.state.restoreLimits } : {}) } : {}),
  });

  let snapshots: StateSnapshotter | null = null;
  if (options.state) {
    const store = options.state.store;
    try {
      let timer: NodeJS.Timeout | undefined;
      const group = await Promise.race([store.getGroup(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out after 5 s')), 5_000)))]).finally(() => clearTimeout(timer));
      const restored = analyzer.restoreGroup(group);
      log('info', group.warmSince !== null ? 'state restored: the group learned before, no warm-up' : 'no group state stored: warm-up', { warmSince: group.warmSince, populations: restored.populations, bad: restored.bad });
    } catch (err) {
      log('warn', 'reading the group state failed; warm-up as on a first start', { err: (err as Error).message });
    }
    snapshots = new StateSnapshotter(analyzer, store, { ...(options.state.snapshotEveryMs ? { everyMs: options.state.snapshotEveryMs } : {}), clock, log });
    snapshots.start();
  }

  // what leaves for the anomalies topic, and what the in-memory report store drops: counted
  metrics.watchReports({ publisher: options.publisher ?? null, store: options.reports as { readonly dropped?: number; readonly historyDropped?: number } });

  let consuming = false;
  const state: AnalyzerState = {
    analyzer,
    metrics,
    controlPlane: options.controlPlane,
    reports: options.reports,
    publisher: options.publisher ?? null,
    source: options.source,
    policy: () => analyzer.currentPolicy,
    get consuming() {
      return consuming;
    },
    get modelError() {
      return modelError;
    },
    snapshots,
  };

  // scrapes and probes are not worth a log line each
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    if (options.lag) metrics.consumerLag.set(options.lag());
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/healthz', { logLevel: 'warn' }, async (_req, reply) => {
    const body = {
      ok: consuming,
      consuming,
      clients: analyzer.clientCount,
      model: analyzer.model ? { version: analyzer.model.metadata.version, backend: analyzer.model.backend } : { error: modelError ?? 'disabled' },
      seriesDetector: analyzer.seriesDetector,
    };
    return reply.code(consuming ? 200 : 503).send(body);
  });
  // readiness (the Service routes the operator API here only when it can answer): consuming, and
  // every dependency reachable; /healthz stays the liveness answer (a Redis outage is no reason to restart)
  app.get('/readyz', { logLevel: 'warn' }, async (_req, reply) => {
    const deps = options.dependencies?.() ?? {};
    const ok = consuming && Object.values(deps).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ ok, consuming, ...deps });
  });
  for (const plugin of options.plugins ?? []) await plugin(app, state);

  let address: string | null = null;
  const listen = options.listen === undefined ? { host: '0.0.0.0', port: 9090 } : options.listen;
  if (listen) {
    await app.listen({ host: listen.host, port: listen.port });
    const a = app.server.address();
    address = typeof a === 'object' && a ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : null;
  } else await app.ready();

  // consume: the handler only counts (ingest); closing and scoring run on the tick
  const running = options.source
    .run(
      async (events, meta) => {
        analyzer.ingest(events, meta.partition);
      },
      (error) => {
        metrics.eventsBad.inc();
        log('debug', 'bad event skipped', { error });
      },
    )
    .catch((err: unknown) => log('error', 'event source stopped', { err: (err as Error).message }))
    .finally(() => (consuming = false));
  consuming = true;

  let ticking = false;
  const tick = setInterval(() => {
    if (ticking) return;
    ticking = true;
    analyzer
      .tick(clock())
      .catch((err: unknown) => log('error', 'tick failed', { err: (err as Error).message }))
      .finally(() => {
        ticking = false;
        if (options.lag) metrics.consumerLag.set(options.lag());
      });
  }, options.tickIntervalMs ?? 1_000);
  tick.unref();

  // one retraining at a time; close() stops a running one (after its current batch) and waits for it
  let retraining: Promise<void> | null = null;
  const retrainStop = new AbortController();
  const retrainTimer = options.retrain
    ? setInterval(() => {
        if (retraining) return;
        retraining = retrain(analyzer, { outDir: options.retrain!.outDir, signal: retrainStop.signal, ...(options.retrain!.keep ? { keep: options.retrain!.keep } : {}) }, clock(), log)
          .then((dir) => {
            if (dir) modelError = null;
          })
          .catch((err: unknown) => {
            if (retrainStop.signal.aborted) log('info', 'retraining stopped: the analyzer is closing');
            else log('error', 'retraining failed; the current model stays', { err: (err as Error).message });
          })
          .finally(() => (retraining = null));
      }, options.retrain.everyMs)
    : null;
  retrainTimer?.unref();

  let closed = false;
  return {
    address,
    app,
    state,
    async close(opts = {}) {
      if (closed) return;
      closed = true;
      consuming = false;
      clearInterval(tick);
      if (retrainTimer) clearInterval(retrainTimer);
      retrainStop.abort();
      await options.source.stop();
      await running;
      await retraining;
      while (ticking) await new Promise((r) => setTimeout(r, 10));
      // what was learned goes to the store, so the next instance of the group resumes from it
      await snapshots?.stop(opts.snapshot !== false);
      await options.publisher?.close();
      await app.close();
    },
  };
}
