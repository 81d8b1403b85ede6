/**
 * The operator experience in one registration, for the analyzer's server:
 *
 *   await server.register(operatorPlugin, { backend, adminToken, readonlyToken });
 *
 * adds /api/* (operator API, bearer token) and /ui/* (web UI, no token to load; `/` redirects to it).
 * `backend` is an AnalyzerBackend over the analyzer's report store and control plane.
 */
import type { FastifyPluginAsync } from 'fastify';
import { operatorApi, type OperatorApiOptions } from './plugin.js';
import { operatorUi, type OperatorUiOptions } from '../ui/plugin.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import { AnalyzerBackend, type ActuatorLike, type ReportStoreLike } from './analyzerBackend.js';
import { analyzerViews, type AnalyzerLike } from './analyzerViews.js';
import type { LoadPoint } from './backend.js';
import type { AnomalyReport } from '../../models/anomaly.js';

export type OperatorPluginOptions = OperatorApiOptions & OperatorUiOptions;

export const operatorPlugin: FastifyPluginAsync<OperatorPluginOptions> = async (app, options) => {
  await app.register(operatorApi, options);
  await app.register(operatorUi, options.redirectRoot === undefined ? {} : { redirectRoot: options.redirectRoot });
};

/**
 * The backend for a running Analyzer, in one call:
 *
 *   const loadHistory = new LoadHistory();
 *   await loadHistory.follow(controlPlane);
 *   const backend = operatorBackendFor(analyzer, { reports, plane: controlPlane, cooldownMs: () => policy.analyzer.cooldownMs, loadHistory, publisher });
 *
 * `publisher` (the analyzer's ReportPublisher): operator decisions are published to the anomalies topic like every other change.
 */
export function operatorBackendFor(
  analyzer: AnalyzerLike & { readonly actuator: ActuatorLike },
  parts: { reports: ReportStoreLike; plane: ControlPlane; cooldownMs: number | (() => number); now?: () => number; loadHistory?: { list(): readonly LoadPoint[] }; ipv6Prefix?: () => number; publisher?: { publish(report: AnomalyReport): void } | null },
): AnalyzerBackend {
  const views = analyzerViews(analyzer, { cooldownMs: parts.cooldownMs, ...(parts.now ? { now: parts.now } : {}) });
  return new AnalyzerBackend({
    reports: parts.reports,
    plane: parts.plane,
    actuator: analyzer.actuator,
    ...(parts.now ? { now: parts.now } : {}),
    ...(parts.loadHistory ? { loadHistory: parts.loadHistory } : {}),
    ...(parts.ipv6Prefix ? { ipv6Prefix: parts.ipv6Prefix } : {}),
    ...(parts.publisher ? { publisher: parts.publisher } : {}),
    seriesOf: views.seriesOf,
    clientOf: views.clientOf,
    onDecision: views.onDecision,
  });
}

export { operatorApi, operatorUi, analyzerViews };
export { AnalyzerBackend, type AnalyzerBackendParts } from './analyzerBackend.js';
export { StandaloneBackend } from './standaloneBackend.js';
export { LoadHistory } from './loadHistory.js';
export { generateToken, loginUrl } from './auth.js';
export type { OperatorBackend, Series, ClientView, ClientBaseline } from './backend.js';
