/**
 * The operator API as an encapsulated fastify plugin: `app.register(operatorApi, { backend,
 * adminToken, readonlyToken })`. Everything under /api needs a bearer token (auth.ts); every body,
 * query and path parameter is validated against the zod schemas of routes.ts (bad input → 400
 * problem+json listing every error); every write is audited in the report and in the log.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodError, ZodType } from 'zod';
import type { AnomalyReport } from '../../models/anomaly.js';
import type { BlockValue, OverrideValue } from '../../models/control.js';
import { overrideField, parseOverrideField } from '../../models/control.js';
import { parseDuration } from '../../models/duration.js';
import { bearerToken, createAuthenticator, operatorName, type Role } from './auth.js';
import { OperatorError, type OperatorBackend, type OperatorAction } from './backend.js';
import { buildOpenApiDocument } from './openapi.js';
import { fail, problem, ProblemError, PROBLEM_CONTENT_TYPE, type FieldError, type Problem } from './problem.js';
import { ROUTES, type RouteId, type RouteSpec } from './routes.js';
import { MAX_ANOMALY_ID, MAX_TTL_MS } from './schemas.js';
import { cleanNote } from './transitions.js';
import { parseSince } from './since.js';
import { decodeCursor, InvalidCursorError } from '../reports/cursor.js';

/**
 * A block's or override's reason as notes are kept: control and bidirectional-override characters
 * become spaces (it is stored in the control plane, shown by the CLI and the UI, and sent in the
 * sidecar's 403 body); nothing printable left is the default reason.
 */
function cleanReason(reason: string, fallback: string): string {
  return cleanNote(reason) ?? fallback;
}

export interface OperatorApiOptions {
  readonly backend: OperatorBackend;
  /** RW_ADMIN_TOKEN; null disables the API (every /api request gets 503), except the OpenAPI document. */
  readonly adminToken: string | null;
  /** RW_READONLY_TOKEN (optional). */
  readonly readonlyToken?: string | null;
  readonly now?: () => number;
  /** Version in the OpenAPI document. */
  readonly version?: string;
}

interface Operator {
  readonly role: Role;
  readonly who: string;
}

type Handler = (req: FastifyRequest, op: Operator) => Promise<unknown>;

const BODY_LIMIT = 16 * 1024;

export const operatorApi: FastifyPluginAsync<OperatorApiOptions> = async (app, options) => {
  await app.register(async (api) => registerApi(api, options), { prefix: '/api' });
};

async function registerApi(api: FastifyInstance, options: OperatorApiOptions): Promise<void> {
  const { backend } = options;
  const now = options.now ?? Date.now;
  const auth = createAuthenticator({ adminToken: options.adminToken, readonlyToken: options.readonlyToken ?? null });
  const operators = new WeakMap<FastifyRequest, Operator>();
  const openapi = JSON.stringify(buildOpenApiDocument({ version: options.version ?? '0.1.0' }));

  api.setValidatorCompiler(({ schema, httpPart }) => {
    const zod = schema as unknown as ZodType;
    return (data: unknown) => {
      const result = zod.safeParse(data);
      if (result.success) return { value: result.data };
      const error = new Error('invalid input') as Error & { fieldErrors: FieldError[] };
      error.fieldErrors = zodErrors(result.error, httpPart ?? 'input');
      return { error };
    };
  });

  api.setErrorHandler((error: Error & { statusCode?: number; fieldErrors?: FieldError[]; validation?: unknown }, request, reply) => {
    if (error instanceof ProblemError) return sendProblem(reply, error.problem);
    if (error instanceof OperatorError) {
      const status = error.kind === 'not_found' ? 404 : error.kind === 'conflict' ? 409 : 503;
      return sendProblem(reply, problem(status, error.kind, error.message));
    }
    if (error instanceof InvalidCursorError) return sendProblem(reply, problem(400, 'bad_request', error.message, [CURSOR_ERROR]));
    if (error.fieldErrors) return sendProblem(reply, problem(400, 'bad_request', 'the request does not match the schema', error.fieldErrors));
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendProblem(reply, problem(status, status === 404 ? 'not_found' : 'bad_request', error.message));
    request.log.error({ err: error }, 'operator API handler failed');
    return sendProblem(reply, problem(500, 'internal', 'internal error; see the analyzer log'));
  });

  api.setNotFoundHandler((request, reply) => sendProblem(reply, problem(404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`)));

  // documentation is public: it holds nothing an unauthenticated caller could abuse
  api.get('/openapi.json', async (_req, reply) => reply.type('application/json').header('cache-control', 'no-cache').send(openapi));

  const handlers = makeHandlers(backend, now);
  for (const route of ROUTES) {
    const handler = handlers[route.id];
    api.route({
      method: route.method,
      url: route.url.slice('/api'.length),
      bodyLimit: BODY_LIMIT,
      schema: {
        ...(route.params ? { params: route.params } : {}),
        ...(route.query ? { querystring: route.query } : {}),
        ...(route.body ? { body: route.body } : {}),
      },
      // authentication runs before the body is even read
      onRequest: async (request, reply) => {
        reply.header('cache-control', 'no-store');
        if (!auth.enabled) return sendProblem(reply, problem(503, 'api_disabled', 'the operator API is disabled: set RW_ADMIN_TOKEN'));
        const token = bearerToken(request.headers.authorization);
        const role = auth.roleOf(token);
        if (role === null) {
          reply.header('www-authenticate', token ? 'Bearer realm="ratewarden", error="invalid_token"' : 'Bearer realm="ratewarden"');
          return sendProblem(reply, problem(401, 'unauthorized', token ? 'the token is not valid' : 'send Authorization: Bearer <token>'));
        }
        if (route.write && role !== 'admin') return sendProblem(reply, problem(403, 'forbidden', 'a read-only token cannot change anything'));
        operators.set(request, { role, who: operatorName(role, request.headers['x-operator']) });
        return undefined;
      },
      handler: async (request, reply) => {
        const op = operators.get(request)!;
        const body = await handler(request, op);
        if (route.write) request.log.info({ audit: { who: op.who, route: route.id, url: request.url.split('?')[0] } }, 'operator action');
        return reply.code(route.successStatus ?? 200).send(body);
      },
    });
  }
}

function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

function zodErrors(error: ZodError, part: string): FieldError[] {
  return error.issues.map((issue) => {
    const path = [part, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') return { path, message: `unknown field(s): ${issue.keys.join(', ')}` };
    return { path, message: issue.message };
  });
}

const CURSOR_ERROR: FieldError = { path: 'querystring.cursor', message: "must be the previous page's `next`" };

// --- handlers -----------------------------------------------------------------------------------

function ttlMs(ttl: string | number): number {
  const ms = typeof ttl === 'number' ? ttl : parseDuration(ttl);
  if (ms === null || ms < 1000 || ms > MAX_TTL_MS) fail(400, 'bad_request', 'ttl must be between 1s and 30d', [{ path: 'body.ttl', message: 'must be between 1s and 30d' }]);
  return ms;
}

export function blockView(client: string, value: BlockValue, now: number) {
  return { client, until: value.until, reason: value.reason, ...(value.anomalyId ? { anomalyId: value.anomalyId } : {}), seq: value.seq, remainingMs: Math.max(0, value.until - now) };
}

export function overrideView(field: string, value: OverrideValue, now: number) {
  const parsed = parseOverrideField(field) ?? { ruleId: field, client: '' };
  return {
    field,
    rule: parsed.ruleId,
    client: parsed.client,
    ...(value.multiplier !== undefined ? { multiplier: value.multiplier } : {}),
    ...(value.limit !== undefined ? { limit: value.limit } : {}),
    until: value.until,
    reason: value.reason,
    ...(value.anomalyId ? { anomalyId: value.anomalyId } : {}),
    seq: value.seq,
    remainingMs: Math.max(0, value.until - now),
  };
}

function byUntil<T extends { until: number }>(a: T, b: T): number {
  return a.until - b.until;
}

function makeHandlers(backend: OperatorBackend, now: () => number): Record<RouteId, Handler> {
  /** A client key no sidecar could form is refused, not written to match nothing. */
  const badClient = (client: string): void => {
    const problem = backend.clientProblem?.(client) ?? null;
    if (problem !== null) fail(400, 'bad_request', `client ${problem}`, [{ path: 'body.client', message: problem }]);
  };
  /** A block or override is linked only to a report that exists (its dismissal lifts it, its history records it). */
  const badAnomaly = async (anomalyId: string | undefined): Promise<void> => {
    if (anomalyId && !(await backend.getAnomaly(anomalyId))) fail(400, 'bad_request', `no anomaly ${anomalyId}`, [{ path: 'body.anomalyId', message: 'must be the id of an anomaly report' }]);
  };
  const clientControl = async (given: string) => {
    // a report's client as events carried it: its block and overrides are written in the sidecars' form
    const client = backend.canonicalClient?.(given) ?? given;
    const t = now();
    const [blocks, overrides] = await Promise.all([backend.listBlocks(), backend.listOverrides()]);
    const block = blocks.get(client);
    const own = [...overrides].filter(([field]) => parseOverrideField(field)?.client === client).map(([field, v]) => overrideView(field, v, t));
    return { block: block ? blockView(client, block, t) : null, overrides: own };
  };
  /** The path's anomaly id; one longer than any report's is a report that does not exist (not echoed whole). */
  const reportId = (req: FastifyRequest): string => {
    const { id } = req.params as { id: string };
    if (id.length > MAX_ANOMALY_ID) fail(404, 'not_found', `no anomaly ${id.slice(0, 64)}… (${id.length} characters)`);
    return id;
  };
  const act = (action: OperatorAction): Handler => async (req, op) => {
    const id = reportId(req);
    const body = req.body as { note?: string } | null | undefined;
    const report: AnomalyReport = await backend.act(id, action, op.who, body?.note);
    return { report };
  };
  return {
    whoami: async (_req, op) => ({ role: op.role, who: op.who }),
    listAnomalies: async (req) => {
      const q = req.query as { status?: AnomalyReport['status']; client?: string; since?: string; limit: number; cursor?: string };
      let since: number | undefined;
      if (q.since !== undefined) {
        const parsed = parseSince(q.since, now());
        if (parsed === null) fail(400, 'bad_request', 'since is not a time', [{ path: 'querystring.since', message: 'must be epoch ms, an ISO-8601 date-time (of a day the month has) or a duration like 1h' }]);
        since = parsed;
      }
      if (q.cursor && decodeCursor(q.cursor) === null) fail(400, 'bad_request', 'invalid cursor', [CURSOR_ERROR]);
      const page = await backend.listAnomalies({
        limit: q.limit,
        ...(q.status ? { status: q.status } : {}),
        // as the client view and the blocks take it: reports carry the client in the sidecars' form
        ...(q.client ? { client: backend.canonicalClient?.(q.client) ?? q.client } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return { items: page.items, next: page.next };
    },
    getAnomaly: async (req) => {
      const id = reportId(req);
      const found = await backend.getAnomaly(id);
      if (!found) fail(404, 'not_found', `no anomaly ${id}`);
      return { report: found.report, evidence: found.evidence, ...(await clientControl(found.report.client)) };
    },
    confirmAnomaly: act('confirm'),
    dismissAnomaly: act('dismiss'),
    approveAnomaly: act('approve'),
    listBlocks: async () => {
      const t = now();
      const items = [...(await backend.listBlocks())].map(([client, v]) => blockView(client, v, t)).sort(byUntil);
      return { now: t, items };
    },
    addBlock: async (req, op) => {
      const b = req.body as { client: string; ttl: string | number; reason: string; anomalyId?: string };
      badClient(b.client);
      await badAnomaly(b.anomalyId);
      const seq = await backend.addBlock({ client: b.client, until: now() + ttlMs(b.ttl), reason: cleanReason(b.reason, 'blocked by an operator'), ...(b.anomalyId ? { anomalyId: b.anomalyId } : {}) }, op.who);
      return { seq };
    },
    removeBlock: async (req, op) => {
      const q = req.query as { client: string; note?: string };
      const removed = await backend.removeBlock(q.client, op.who, q.note);
      if (!removed) fail(404, 'not_found', `${q.client} is not blocked`);
      return { removed };
    },
    listOverrides: async () => {
      const t = now();
      const items = [...(await backend.listOverrides())].map(([field, v]) => overrideView(field, v, t)).sort(byUntil);
      return { now: t, items };
    },
    addOverride: async (req, op) => {
      const b = req.body as { rule: string; client: string; multiplier?: number; limit?: number; ttl: string | number; reason: string; anomalyId?: string };
      badClient(b.client);
      await badAnomaly(b.anomalyId);
      const seq = await backend.addOverride(
        {
          rule: b.rule,
          client: b.client,
          ...(b.multiplier !== undefined ? { multiplier: b.multiplier } : {}),
          ...(b.limit !== undefined ? { limit: b.limit } : {}),
          until: now() + ttlMs(b.ttl),
          reason: cleanReason(b.reason, 'override by an operator'),
          ...(b.anomalyId ? { anomalyId: b.anomalyId } : {}),
        },
        op.who,
      );
      return { seq };
    },
    removeOverride: async (req, op) => {
      const q = req.query as { rule: string; client: string; note?: string };
      const removed = await backend.removeOverride(q.rule, q.client, op.who, q.note);
      if (!removed) fail(404, 'not_found', `no override ${overrideField(q.rule, q.client)}`);
      return { removed };
    },
    getLoad: async () => {
      const load = await backend.getLoad();
      return { now: now(), services: load.services, history: load.history };
    },
    getClient: async (req) => {
      const given = (req.params as { key: string }).key;
      // looked up as blocks and overrides are written (an IPv6 address as its network)
      const key = backend.canonicalClient?.(given) ?? given;
      const [view, page, control] = await Promise.all([backend.getClient(key), backend.listAnomalies({ client: key, limit: 20 }), clientControl(key)]);
      if (!view && page.items.length === 0 && !control.block && control.overrides.length === 0) fail(404, 'not_found', `the analyzer knows nothing of ${key}`);
      return {
        client: key,
        ...(view?.tier ? { tier: view.tier } : {}),
        baseline: view?.baseline ?? null,
        series: view?.series ?? null,
        ...control,
        anomalies: page.items,
      };
    },
  };
}

export type { RouteSpec };
export { parseSince };
