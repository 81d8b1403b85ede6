/**
 * The operator API's routes as data: method, path, whether it writes, and its schemas. The plugin
 * registers handlers for these, and openapi.ts documents exactly these — one table, no drift.
 */
import type { ZodType } from 'zod';
import * as s from './schemas.js';

export type RouteId =
  | 'whoami'
  | 'listAnomalies'
  | 'getAnomaly'
  | 'confirmAnomaly'
  | 'dismissAnomaly'
  | 'approveAnomaly'
  | 'listBlocks'
  | 'addBlock'
  | 'removeBlock'
  | 'listOverrides'
  | 'addOverride'
  | 'removeOverride'
  | 'getLoad'
  | 'getClient';

export interface RouteSpec {
  readonly id: RouteId;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** fastify path syntax (`:id`). */
  readonly url: string;
  readonly tag: 'anomalies' | 'blocks' | 'overrides' | 'load' | 'clients' | 'session';
  readonly summary: string;
  readonly description?: string;
  /** Needs the admin role (a read-only token gets 403). */
  readonly write: boolean;
  readonly params?: ZodType;
  readonly query?: ZodType;
  readonly body?: ZodType;
  /** Whether the body may be absent. */
  readonly bodyOptional?: boolean;
  readonly response: ZodType;
  readonly successStatus?: 200 | 201;
  /** Error statuses besides 400/401/403 (documented). */
  readonly errors?: readonly number[];
}

const action = (id: RouteId, verb: 'confirm' | 'dismiss' | 'approve', description: string): RouteSpec => ({
  id,
  method: 'POST',
  url: `/api/anomalies/:id/${verb}`,
  tag: 'anomalies',
  summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} an anomaly`,
  description,
  write: true,
  params: s.idParams,
  body: s.actionBody,
  bodyOptional: true,
  response: s.reportResponse,
  errors: [404, 409],
});

export const ROUTES: readonly RouteSpec[] = [
  { id: 'whoami', method: 'GET', url: '/api/whoami', tag: 'session', summary: 'The role of the presented token and the name actions are recorded under', write: false, response: s.whoami },
  {
    id: 'listAnomalies',
    method: 'GET',
    url: '/api/anomalies',
    tag: 'anomalies',
    summary: 'Anomaly reports, newest first, paged',
    description: 'Filter by status, client key (read in the sidecars\' form, as for blocks: `ip:2001:db8:1:2::5` finds `ip:2001:db8:1:2::/64`) and detection time; follow `next` as `cursor` for older pages.',
    write: false,
    query: s.anomalyListQuery,
    response: s.anomalyPage,
  },
  {
    id: 'getAnomaly',
    method: 'GET',
    url: '/api/anomalies/:id',
    tag: 'anomalies',
    summary: 'One report with its evidence: features against the baseline, and the client series',
    write: false,
    params: s.idParams,
    response: s.anomalyDetail,
    errors: [404],
  },
  action('confirmAnomaly', 'confirm', 'A true positive: keep the action (block/override) and mark the report confirmed.'),
  action('dismissAnomaly', 'dismiss', 'A false positive: lift the block/override it caused (if still in place) and mark the report dismissed.'),
  action('approveAnomaly', 'approve', 'Apply an action that waits for an operator (status pending → actioned).'),
  { id: 'listBlocks', method: 'GET', url: '/api/blocks', tag: 'blocks', summary: 'Blocks in `rw:ctl:blocks`, with time left', write: false, response: s.blockList },
  {
    id: 'addBlock',
    method: 'POST',
    url: '/api/blocks',
    tag: 'blocks',
    summary: 'Block a client (403 at every sidecar) until the TTL ends',
    write: true,
    body: s.blockBody,
    response: s.writeResponse,
    successStatus: 201,
  },
  {
    id: 'removeBlock',
    method: 'DELETE',
    url: '/api/blocks',
    tag: 'blocks',
    summary: 'Unblock a client (published as kind block, value null)',
    description: 'When the block came from an anomaly, the unblock is recorded in that report.',
    write: true,
    query: s.blockDeleteQuery,
    response: s.deleteResponse,
    errors: [404],
  },
  { id: 'listOverrides', method: 'GET', url: '/api/overrides', tag: 'overrides', summary: 'Overrides in `rw:ctl:overrides`, with time left', write: false, response: s.overrideList },
  {
    id: 'addOverride',
    method: 'POST',
    url: '/api/overrides',
    tag: 'overrides',
    summary: 'Set a rule override (multiplier or limit) for a client or `*` until the TTL ends',
    write: true,
    body: s.overrideBody,
    response: s.writeResponse,
    successStatus: 201,
  },
  {
    id: 'removeOverride',
    method: 'DELETE',
    url: '/api/overrides',
    tag: 'overrides',
    summary: 'Remove an override',
    write: true,
    query: s.overrideDeleteQuery,
    response: s.deleteResponse,
    errors: [404],
  },
  { id: 'getLoad', method: 'GET', url: '/api/load', tag: 'load', summary: 'Load multiplier per service and its history', write: false, response: s.loadResponse },
  {
    id: 'getClient',
    method: 'GET',
    url: '/api/clients/:key',
    tag: 'clients',
    summary: "A client's baseline, recent series, active block/overrides and recent anomalies",
    description: 'The key is URL-encoded (`apiKey%3A9f86d081884c7d65`).',
    write: false,
    params: s.clientParams,
    response: s.clientResponse,
    errors: [404],
  },
];
