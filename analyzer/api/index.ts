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

export type OperatorPluginOptions = OperatorApiOptions & OperatorUiOptions;

export const operatorPlugin: FastifyPluginAsync<OperatorPluginOptions> = async (app, options) => {
  await app.register(operatorApi, options);
  await app.register(operatorUi, options.redirectRoot === undefined ? {} : { redirectRoot: options.redirectRoot });
};

export { operatorApi, operatorUi };
export { AnalyzerBackend, type AnalyzerBackendParts } from './analyzerBackend.js';
export { StandaloneBackend } from './standaloneBackend.js';
export { LoadHistory } from './loadHistory.js';
export { generateToken, loginUrl } from './auth.js';
export type { OperatorBackend, Series, ClientView, ClientBaseline } from './backend.js';
