/**
 * The operator API over the analyzer's own parts on real Redis, for tests: a RedisReportStore and a
 * RedisControlPlane under unique names, an AnalyzerBackend with the Actuator, the plugin on a fastify
 * instance (inject only), and `close()` removing every key it wrote.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { controlKeys, type ControlKeys } from '../../../models/control.js';
import { RedisControlPlane } from '../../../models/controlPlane.js';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { Actuator } from '../../../analyzer/actions/actuator.js';
import { AnalyzerBackend } from '../../../analyzer/api/analyzerBackend.js';
import type { OperatorAction } from '../../../analyzer/api/backend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { ADMIN } from './fixtures.js';

export interface RedisOperatorApi {
  readonly redis: Redis;
  readonly keys: ControlKeys;
  readonly prefix: string;
  readonly store: RedisReportStore;
  readonly plane: RedisControlPlane;
  readonly app: FastifyInstance;
  /** An admin call (with `x-operator` when `operator` was given); the answer's status and JSON body. */
  call(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startRedisOperatorApi(opts: {
  tag: string;
  now: () => number;
  seed?: (store: RedisReportStore, plane: RedisControlPlane) => Promise<void>;
  onDecision?: (report: AnomalyReport, action: OperatorAction) => void;
  operator?: string;
}): Promise<RedisOperatorApi> {
  const redis = await connectRedis();
  const keys = controlKeys(uniqueName(opts.tag));
  const prefix = uniqueName(`${opts.tag}-reports`);
  const store = new RedisReportStore(redis, { prefix });
  const plane = new RedisControlPlane(redis, keys);
  await opts.seed?.(store, plane);
  const backend = new AnalyzerBackend({ reports: store, plane, actuator: new Actuator(plane), now: opts.now, ...(opts.onDecision ? { onDecision: opts.onDecision } : {}) });
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: ADMIN, now: opts.now });
  await app.ready();
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...(opts.operator ? { 'x-operator': opts.operator } : {}) };
  return {
    redis,
    keys,
    prefix,
    store,
    plane,
    app,
    async call(method, url, body) {
      const res = await app.inject({ method, url, headers, ...(body !== undefined ? { payload: body as object } : {}) });
      return { status: res.statusCode, body: res.json() };
    },
    async close() {
      await app.close();
      const stale = await redis.keys(`{${prefix}}*`);
      if (stale.length) await redis.del(...stale);
      await redis.del(keys.blocks, keys.overrides, keys.load, keys.seq);
      redis.disconnect();
    },
  };
}
