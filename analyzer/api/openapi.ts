/**
 * The OpenAPI 3.1 document of the operator API, generated from the route table and its zod
 * schemas (OpenAPI 3.1 uses JSON Schema 2020-12, which is what zod emits).
 */
import { z, type ZodType } from 'zod';
import { ROUTES, type RouteSpec } from './routes.js';
import { problem as problemSchema } from './schemas.js';

type Json = Record<string, unknown>;

function jsonSchema(schema: ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z]+)/g, '{$1}');
}

function parameters(route: RouteSpec): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const js = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, prop] of Object.entries(js.properties ?? {})) {
      const { description, ...rest } = prop as Json & { description?: string };
      out.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema: rest, ...(description ? { description } : {}) });
    }
  }
  return out;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid input; `errors` lists every problem with its path',
  401: 'No token, or a wrong one (`WWW-Authenticate: Bearer`)',
  403: 'A read-only token on a write',
  404: 'Not found',
  409: 'The action is not allowed from the report status',
  503: 'The operator API is disabled (RW_ADMIN_TOKEN is not set)',
};

export function buildOpenApiDocument(info: { version: string } = { version: '0.1.0' }): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const problemRef = { $ref: '#/components/schemas/Problem' };
  for (const route of ROUTES) {
    const responses: Record<string, Json> = {
      [String(route.successStatus ?? 200)]: { description: 'OK', content: { 'application/json': { schema: jsonSchema(route.response, 'output') } } },
    };
    const errorStatuses = [...(route.params || route.query || route.body ? [400] : []), 401, ...(route.write ? [403] : []), ...(route.errors ?? []), 503];
    for (const status of errorStatuses) responses[String(status)] = { description: STATUS_TEXT[status] ?? 'Error', content: { 'application/problem+json': { schema: problemRef } } };
    const op: Json = {
      operationId: route.id,
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(route.write ? { 'x-requires-role': 'admin' } : {}),
      parameters: parameters(route),
      responses,
    };
    if (route.body) op.requestBody = { required: !route.bodyOptional, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } };
    (paths[openApiPath(route.url)] ??= {})[route.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ratewarden operator API',
      version: info.version,
      description:
        'Review what the analyzer found and decide. Every request needs `Authorization: Bearer <token>`: RW_ADMIN_TOKEN (read and write) or RW_READONLY_TOKEN (reads only). ' +
        'Operator actions are recorded in the report history under the token role, or `<name> (<role>)` when the request carries `X-Operator: <name>` (at most 64 characters of [A-Za-z0-9._@+-]; anything else becomes `_`).',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: ['anomalies', 'blocks', 'overrides', 'load', 'clients', 'session'].map((name) => ({ name })),
    paths: {
      ...paths,
      '/api/openapi.json': { get: { operationId: 'openapi', summary: 'This document (no token needed)', security: [], responses: { '200': { description: 'OK' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
  };
}
