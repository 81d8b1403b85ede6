import { ErrorCodes } from './errors.js';
import { check, decodeFail, firstError, parseJsonObject, type Decoded } from './codec.js';

/** Kafka topics of the contract (DESIGN.md). */
export const DEFAULT_EVENTS_TOPIC = 'ratewarden.events';
export const ANOMALIES_TOPIC = 'ratewarden.anomalies';

/** The events topic: RW_EVENTS_TOPIC, else the policy's `events.topic`, else the contract's — the same rule for sidecars and the analyzer. */
export function eventsTopic(env: NodeJS.ProcessEnv = process.env, policyTopic: string | null = null): string {
  return env.RW_EVENTS_TOPIC || policyTopic || DEFAULT_EVENTS_TOPIC;
}

export const DECISIONS = ['allowed', 'limited', 'blocked', 'shadow_limited', 'queued'] as const;

/**
 * `rule` of a request the sidecar's adaptive concurrency limit shed (503, decision `limited`): the
 * upstream was overloaded, the client did nothing wrong. No policy rule can have this id.
 */
export const SHED_RULE = '@adaptive-concurrency';
export type Decision = (typeof DECISIONS)[number];

/**
 * One event per call, value of a `ratewarden.events` message keyed by `client`.
 * Secrets never appear: `client` carries API keys as their 16-hex id, `uaHash` is a digest.
 */
export interface CallEvent {
  readonly v: 1;
  /** Epoch ms when the request arrived. */
  readonly ts: number;
  readonly pod: string;
  readonly service: string;
  readonly method: string;
  /** Path without query string (bounded length). */
  readonly route: string;
  readonly status: number;
  readonly latencyMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly ip: string;
  /** The client key (`apiKey:9f86d081884c7d65`, `ip:10.1.2.3`, …). */
  readonly client: string;
  readonly user: string | null;
  readonly uaHash: string | null;
  readonly decision: Decision;
  /** The rule that decided (the most constraining one), or null when none matched. */
  readonly rule: string | null;
  readonly cost: number;
  /** The caller's tier (extension; absent from producers that do not know it). */
  readonly tier?: string;
  /**
   * Extension: true when the sidecar answered the request itself and the upstream was never called,
   * for a reason other than a limit or a block — draining at shutdown (503), a request it refused as
   * malformed or unauthenticated (400, 401, 413), an adaptive-concurrency shed (503, rule
   * SHED_RULE). The analyzer's load watcher leaves such events out: they say nothing of the
   * upstream's health. Absent otherwise.
   */
  readonly selfAnswered?: boolean;
}

export const CALL_EVENT_VERSION = 1;

export function encodeCallEvent(event: CallEvent): string {
  return JSON.stringify(event);
}

/**
 * Upper bounds of the event's numbers. Finite is not enough: the analyzer sums and squares them
 * into baselines, and two bytes fields of 1e308 sum to Infinity, which turns a baseline into NaN
 * for good. The bounds are far above anything real: a day for one request's latency, exact
 * integers (2^53 − 1, 8 PiB) for bytes and cost, the last representable Date for ts.
 */
export const CALL_EVENT_LIMITS = { maxTs: 8.64e15, maxLatencyMs: 86_400_000, maxBytes: Number.MAX_SAFE_INTEGER, maxCost: Number.MAX_SAFE_INTEGER, maxName: 253 } as const;

export function decodeCallEvent(input: string | Buffer | Uint8Array): Decoded<CallEvent> {
  const parsed = parseJsonObject(input, 64 * 1024);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (o.v !== CALL_EVENT_VERSION) return decodeFail(ErrorCodes.CODEC_VERSION, check.version(o, CALL_EVENT_VERSION)!);
  const error = firstError(
    check.number(o, 'ts', { min: 0, max: CALL_EVENT_LIMITS.maxTs }),
    check.string(o, 'pod', { max: CALL_EVENT_LIMITS.maxName }),
    check.string(o, 'service', { max: CALL_EVENT_LIMITS.maxName }),
    check.string(o, 'method', { max: 16 }),
    check.string(o, 'route', { max: 2048 }),
    check.number(o, 'status', { int: true, min: 0, max: 999 }),
    check.number(o, 'latencyMs', { min: 0, max: CALL_EVENT_LIMITS.maxLatencyMs }),
    check.number(o, 'bytesIn', { min: 0, max: CALL_EVENT_LIMITS.maxBytes }),
    check.number(o, 'bytesOut', { min: 0, max: CALL_EVENT_LIMITS.maxBytes }),
    check.string(o, 'ip', { max: 64 }),
    check.string(o, 'client', { max: 1024 }),
    check.string(o, 'user', { nullable: true, max: 512 }),
    check.string(o, 'uaHash', { nullable: true, max: 64 }),
    check.oneOf(o, 'decision', DECISIONS),
    check.string(o, 'rule', { nullable: true, max: 64 }),
    check.number(o, 'cost', { min: 0, max: CALL_EVENT_LIMITS.maxCost }),
    check.string(o, 'tier', { optional: true, max: 32 }),
    check.boolean(o, 'selfAnswered', { optional: true }),
  );
  if (error) return decodeFail(ErrorCodes.CODEC_FIELD, error);
  // only the known fields are kept: unknown ones (a newer producer's, or padding up to the 64 KiB
  // message bound) are tolerated but would otherwise be held with the event (the analyzer holds
  // events while a client's snapshot is looked up) — and an own "__proto__" key goes with them
  const e: { -readonly [K in keyof CallEvent]: CallEvent[K] } = {
    v: 1,
    ts: o.ts as number,
    pod: o.pod as string,
    service: o.service as string,
    method: o.method as string,
    route: o.route as string,
    status: o.status as number,
    latencyMs: o.latencyMs as number,
    bytesIn: o.bytesIn as number,
    bytesOut: o.bytesOut as number,
    ip: o.ip as string,
    client: o.client as string,
    user: o.user as string | null,
    uaHash: o.uaHash as string | null,
    decision: o.decision as Decision,
    rule: o.rule as string | null,
    cost: o.cost as number,
  };
  if (o.tier !== undefined) e.tier = o.tier as string;
  if (o.selfAnswered !== undefined) e.selfAnswered = o.selfAnswered as boolean;
  return { ok: true, value: e };
}
