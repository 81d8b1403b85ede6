/**
 * Request and response schemas of the operator API, written once in zod: requests are validated
 * with them (strict: unknown fields are errors, not silently dropped) and the OpenAPI document is
 * generated from them, so the document cannot drift from what the server accepts.
 */
import { z } from 'zod';
import { ACTION_KINDS, ANOMALY_STATUSES } from '../../models/anomaly.js';
import { MAX_OVERRIDE_LIMIT, MAX_OVERRIDE_MULTIPLIER } from '../../models/control.js';
import { OPERATOR_ACTIONS } from './backend.js';

/** `<part>:<value>` joined by `|` (DESIGN.md), printable, no whitespace. */
const CLIENT_KEY_RE = /^[A-Za-z][A-Za-z0-9_-]*:[^\s|\u0000-\u001f\u007f]+(\|[A-Za-z][A-Za-z0-9_-]*:[^\s|\u0000-\u001f\u007f]+)*$/;
const RULE_ID_RE = /^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/;
/** `90s`, `10m`, `1.5h`, `2d` — or milliseconds as a number. */
const DURATION_RE = /^\d+(\.\d+)?(ms|s|m|h|d)$/;

export const MAX_TTL_MS = 30 * 86_400_000;

export const clientKey = z.string().min(3).max(1024).regex(CLIENT_KEY_RE, 'must be a client key like apiKey:9f86d081884c7d65 or ip:10.1.2.3');
const clientOrAny = z.union([z.literal('*'), clientKey]);
const ruleId = z.string().regex(RULE_ID_RE, 'must be a rule id or *');
const ttl = z.union([z.string().regex(DURATION_RE, 'must be a duration like 90s, 10m, 2h'), z.number().int().min(1000).max(MAX_TTL_MS)]);
const reason = z.string().min(1).max(512);
const note = z.string().max(1024);
/** Longest anomaly id a body may name; a longer one in a path is answered as the unknown id it is (404). */
export const MAX_ANOMALY_ID = 128;
const anomalyId = z.string().min(1).max(MAX_ANOMALY_ID);

export const anomalyListQuery = z.strictObject({
  status: z.enum(ANOMALY_STATUSES).optional(),
  client: clientKey.optional(),
  since: z
    .string()
    .max(40)
    .optional()
    .describe('epoch ms, an ISO-8601 date-time, or a duration back from now (e.g. 1h)'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(256).optional().describe("the previous page's `next`"),
});

export const idParams = z.strictObject({ id: z.string().min(1) });
export const clientParams = z.strictObject({ key: clientKey });

export const actionBody = z.strictObject({ note: note.optional() }).nullish();

export const blockBody = z.strictObject({
  client: clientKey,
  ttl,
  reason: reason.default('blocked by an operator'),
  anomalyId: anomalyId.optional(),
});

export const blockDeleteQuery = z.strictObject({ client: clientKey, note: note.optional() });

export const overrideBody = z
  .strictObject({
    rule: ruleId,
    client: clientOrAny,
    multiplier: z.number().min(0).max(MAX_OVERRIDE_MULTIPLIER).optional(),
    limit: z.number().int().min(0).max(MAX_OVERRIDE_LIMIT).optional(),
    ttl,
    reason: reason.default('override by an operator'),
    anomalyId: anomalyId.optional(),
  })
  .refine((o) => o.multiplier !== undefined || o.limit !== undefined, { message: 'an override needs multiplier or limit', path: ['multiplier'] });

export const overrideDeleteQuery = z.strictObject({ rule: ruleId, client: clientOrAny, note: note.optional() });

// --- responses (documentation only; handlers build them from typed values) ------------------

const explanation = z.object({
  feature: z.string(),
  observed: z.number(),
  baseline: z.number(),
  spread: z.number(),
  z: z.number(),
  detector: z.string().optional(),
  text: z.string().optional(),
});

const history = z.object({ ts: z.number(), who: z.string(), what: z.string(), note: z.string().optional() });

const action = z.object({
  kind: z.enum(ACTION_KINDS),
  multiplier: z.number().optional(),
  ttlMs: z.number().optional(),
  until: z.number().optional(),
  applied: z.boolean(),
});

export const anomalyReport = z
  .object({
    v: z.literal(1),
    id: z.string(),
    ts: z.number().describe('epoch ms of detection'),
    client: z.string(),
    tier: z.string().optional(),
    service: z.string().optional(),
    window: z.object({ start: z.number(), end: z.number(), sizeMs: z.number() }),
    score: z.number().min(0).max(1),
    detectors: z.record(z.string(), z.number()),
    explanation: z.array(explanation),
    summary: z.string(),
    action,
    status: z.enum(ANOMALY_STATUSES),
    history: z.array(history),
    historyDropped: z.number().int().optional().describe('history entries dropped to keep the history bounded (the oldest, never the first nor the earliest one that put something in force)'),
  });

const series = z
  .object({
    feature: z.string(),
    unit: z.string(),
    stepMs: z.number(),
    ts: z.array(z.number()),
    value: z.array(z.number()),
    mean: z.array(z.number().nullable()),
    spread: z.array(z.number().nullable()),
    limited: z.array(z.number()).optional().describe('of value, how many the sidecars limited or blocked'),
    k: z.number().describe('band is mean ± k·spread'),
  });

const block = z.object({
  client: z.string(),
  until: z.number(),
  reason: z.string(),
  anomalyId: z.string().optional(),
  seq: z.number(),
  remainingMs: z.number(),
});

const override = z.object({
  field: z.string(),
  rule: z.string(),
  client: z.string(),
  multiplier: z.number().optional(),
  limit: z.number().optional(),
  until: z.number(),
  reason: z.string(),
  anomalyId: z.string().optional(),
  seq: z.number(),
  remainingMs: z.number(),
});

export const anomalyPage = z.object({ items: z.array(anomalyReport), next: z.string().nullable() });
export const anomalyDetail = z.object({
  report: anomalyReport,
  evidence: z.object({ features: z.array(explanation), series: series.nullable() }),
  block: block.nullable(),
  overrides: z.array(override),
});
export const reportResponse = z.object({ report: anomalyReport });
export const blockList = z.object({ now: z.number(), items: z.array(block) });
export const overrideList = z.object({ now: z.number(), items: z.array(override) });
export const writeResponse = z.object({ seq: z.number() });
export const deleteResponse = z.object({ removed: z.boolean() });
export const loadResponse = z.object({
  now: z.number(),
  services: z.array(
    z.object({
      service: z.string(),
      multiplier: z.number(),
      since: z.number(),
      reason: z.string(),
      seq: z.number(),
      until: z.number().optional(),
      tiers: z.record(z.string(), z.number()).optional(),
    }),
  ),
  history: z.array(z.object({ ts: z.number(), service: z.string(), multiplier: z.number(), reason: z.string().optional() })),
});
export const clientResponse = z.object({
  client: z.string(),
  tier: z.string().optional(),
  baseline: z
    .object({
      features: z.array(z.object({ feature: z.string(), mean: z.number(), spread: z.number(), n: z.number().optional() })),
      updatedAt: z.number().optional(),
      warm: z.boolean().optional(),
    })
    .nullable(),
  series: series.nullable(),
  block: block.nullable(),
  overrides: z.array(override),
  anomalies: z.array(anomalyReport),
});
export const whoami = z.object({ role: z.enum(['admin', 'readonly']), who: z.string() });
export const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    error: z.string(),
    detail: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  });

export { OPERATOR_ACTIONS };
