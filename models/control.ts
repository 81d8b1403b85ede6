import { ErrorCodes } from './errors.js';
import { check, decodeFail, firstError, parseJsonObject, type Decoded } from './codec.js';

/**
 * The Redis control plane (DESIGN.md): three hashes hold the state, `rw:ctl:seq` orders changes,
 * and channel `rw:ctl` announces each change. A sidecar that missed a message rebuilds from the
 * hashes; `until` is honoured locally so nothing outlives its TTL when the analyzer is gone.
 */
export interface ControlKeys {
  readonly overrides: string;
  readonly blocks: string;
  readonly load: string;
  readonly seq: string;
  readonly channel: string;
}

/** The contract's names; `prefix` exists only so tests sharing one Redis stay apart. */
export function controlKeys(prefix = 'rw:ctl'): ControlKeys {
  return {
    overrides: `${prefix}:overrides`,
    blocks: `${prefix}:blocks`,
    load: `${prefix}:load`,
    seq: `${prefix}:seq`,
    channel: prefix,
  };
}

export const CONTROL_KINDS = ['override', 'block', 'load'] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];

export interface OverrideValue {
  /** Multiplies the rule's limit (0.2 = a fifth). */
  readonly multiplier?: number;
  /** Replaces the rule's limit. */
  readonly limit?: number;
  /** Epoch ms after which the override is void. */
  readonly until: number;
  readonly reason: string;
  readonly anomalyId?: string;
  readonly seq: number;
}

export interface BlockValue {
  readonly until: number;
  readonly reason: string;
  readonly anomalyId?: string;
  readonly seq: number;
}

export interface LoadValue {
  /** Applies to every rule of the service, in (0, 1]. */
  readonly multiplier: number;
  readonly since: number;
  readonly reason: string;
  readonly seq: number;
  /** Extension: void after this (the analyzer refreshes it), so a dead analyzer cannot pin a low multiplier. */
  readonly until?: number;
  /** Extension: per-tier multipliers for priority shedding (a tier absent here uses `multiplier`). */
  readonly tiers?: Readonly<Record<string, number>>;
}

export type ControlValue = OverrideValue | BlockValue | LoadValue;
export type ValueOf<K extends ControlKind> = K extends 'override' ? OverrideValue : K extends 'block' ? BlockValue : LoadValue;

export interface ControlMessage<K extends ControlKind = ControlKind> {
  readonly v: 1;
  readonly seq: number;
  readonly kind: K;
  readonly field: string;
  /** The new value, or null when the field was deleted (an unblock is kind block, value null). */
  readonly value: ValueOf<K> | null;
}

export const ANY = '*';

/** Override field `<ruleId>|<clientKey>`; either side may be `*`. Client keys may contain `|` themselves. */
export function overrideField(ruleId: string, clientKey: string): string {
  return `${ruleId}|${clientKey}`;
}

export function parseOverrideField(field: string): { ruleId: string; client: string } | null {
  const bar = field.indexOf('|');
  if (bar <= 0 || bar === field.length - 1) return null;
  return { ruleId: field.slice(0, bar), client: field.slice(bar + 1) };
}

function kindOf(key: string, keys: ControlKeys): ControlKind | null {
  return key === keys.overrides ? 'override' : key === keys.blocks ? 'block' : key === keys.load ? 'load' : null;
}

export function hashFor(kind: ControlKind, keys: ControlKeys): string {
  return kind === 'override' ? keys.overrides : kind === 'block' ? keys.blocks : keys.load;
}

/**
 * The latest epoch ms a Date can hold (±8.64e15, ECMA-262 §21.4.1.1): an `until` or `since` beyond
 * it is refused, since every reader formats them as dates (`new Date(until).toISOString()` throws a
 * RangeError past it — on the sidecar's request path, that was an unhandled rejection). The bound is
 * absolute, not "now + N days", so a value's validity does not depend on the reader's clock; the
 * durations that produce `until` are bounded where they are set (policy ttl ≤ 365d, operator API ≤ 30d).
 */
export const MAX_EPOCH_MS = 8.64e15;

/**
 * The largest override multiplier and limit: the operator API's bound, and the policy's for a limit
 * (1e12). Past them a limit × tier × multiplier overflows the stores' arithmetic — a multiplier of
 * 1e300 made a token bucket's limit Infinity, its Lua state NaN and its hash one without a TTL.
 */
export const MAX_OVERRIDE_MULTIPLIER = 1000;
export const MAX_OVERRIDE_LIMIT = 1e12;

/** Validates a hash value or message value of the given kind. */
export function checkControlValue(kind: ControlKind, o: Record<string, unknown>): string | null {
  const common = firstError(check.number(o, 'seq', { int: true, min: 0 }), check.string(o, 'reason', { max: 1024 }), check.string(o, 'anomalyId', { optional: true, max: 128 }));
  if (common) return common;
  if (kind === 'override') {
    const e = firstError(check.number(o, 'until', { min: 0, max: MAX_EPOCH_MS }), check.number(o, 'multiplier', { optional: true, min: 0, max: MAX_OVERRIDE_MULTIPLIER }), check.number(o, 'limit', { optional: true, min: 0, max: MAX_OVERRIDE_LIMIT }));
    if (e) return e;
    if (o.multiplier === undefined && o.limit === undefined) return 'an override needs multiplier or limit';
    return null;
  }
  if (kind === 'block') return check.number(o, 'until', { min: 0, max: MAX_EPOCH_MS });
  const e = firstError(check.number(o, 'multiplier', { min: 0, max: 1 }), check.number(o, 'since', { min: 0, max: MAX_EPOCH_MS }), check.number(o, 'until', { optional: true, min: 0, max: MAX_EPOCH_MS }));
  if (e) return e;
  if (o.tiers !== undefined) {
    if (o.tiers === null || typeof o.tiers !== 'object' || Array.isArray(o.tiers)) return 'tiers must be an object';
    for (const [tier, m] of Object.entries(o.tiers)) if (typeof m !== 'number' || !(m >= 0 && m <= 1)) return `tiers.${tier} must be in [0, 1]`;
  }
  return null;
}

export function decodeControlValue<K extends ControlKind>(kind: K, input: string): Decoded<ValueOf<K>> {
  const parsed = parseJsonObject(input, 64 * 1024);
  if (!parsed.ok) return parsed;
  const error = checkControlValue(kind, parsed.value);
  return error ? decodeFail(ErrorCodes.CODEC_FIELD, `${kind}: ${error}`) : { ok: true, value: parsed.value as unknown as ValueOf<K> };
}

export function decodeControlMessage(input: string | Buffer): Decoded<ControlMessage> {
  const parsed = parseJsonObject(input, 64 * 1024);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (o.v !== 1) return decodeFail(ErrorCodes.CODEC_VERSION, check.version(o, 1)!);
  const error = firstError(check.number(o, 'seq', { int: true, min: 1 }), check.oneOf(o, 'kind', CONTROL_KINDS), check.string(o, 'field', { max: 2048 }));
  if (error) return decodeFail(ErrorCodes.CODEC_FIELD, error);
  const kind = o.kind as ControlKind;
  if (o.value === undefined) return decodeFail(ErrorCodes.CODEC_FIELD, 'value is missing (null for a deletion)');
  if (o.value !== null) {
    if (typeof o.value !== 'object' || Array.isArray(o.value)) return decodeFail(ErrorCodes.CODEC_FIELD, 'value must be an object or null');
    const valueError = checkControlValue(kind, o.value as Record<string, unknown>);
    if (valueError) return decodeFail(ErrorCodes.CODEC_FIELD, `value: ${valueError}`);
  }
  if (kind === 'override' && parseOverrideField(o.field as string) === null) return decodeFail(ErrorCodes.CODEC_FIELD, 'override field must be <ruleId>|<clientKey>');
  return { ok: true, value: o as unknown as ControlMessage };
}

/** The Redis calls the control plane needs; satisfied by ioredis Redis and Cluster. */
export interface ControlRedis {
  incr(key: string): Promise<number>;
  hset(key: string, field: string, value: string): Promise<number>;
  hdel(key: string, field: string): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
  get(key: string): Promise<string | null>;
  publish(channel: string, message: string): Promise<number>;
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  readonly isCluster?: boolean;
}

/**
 * On one Redis node the write is one script: INCR seq, HSET/HDEL, PUBLISH happen atomically and
 * messages are published in seq order. On a Cluster the three keys live in different slots (their
 * names are the contract), so the steps run in order instead; a subscriber that sees a seq gap or an
 * older seq reloads the hashes, which always hold the latest state.
 *
 * A counter that starts afresh (Redis restarted without persistence, or the key deleted) starts at
 * the Redis server's time in milliseconds, not at 1: seqs then stay above every seq sidecars still
 * hold from before (as long as fewer than one write per millisecond happened), so new writes are
 * never mistaken for old ones and the jump makes every subscriber reload the state from Redis.
 */
const nextSeq = (key: string): string => `
local seq = redis.call('INCR', ${key})
if seq == 1 then
  local t = redis.call('TIME')
  seq = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('SET', ${key}, string.format('%d', seq))
end
`;
const NEXT_SEQ_SCRIPT = nextSeq('KEYS[1]') + 'return seq';
const WRITE_SCRIPT =
  nextSeq('KEYS[2]') +
  `
local value = 'null'
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  value = '{"seq":' .. seq .. ',' .. string.sub(ARGV[3], 2)
  redis.call('HSET', KEYS[1], ARGV[2], value)
end
redis.call('PUBLISH', ARGV[5], '{"v":1,"seq":' .. seq .. ',"kind":"' .. ARGV[1] .. '","field":' .. ARGV[4] .. ',"value":' .. value .. '}')
return seq
`;

type Unsequenced<K extends ControlKind> = Omit<ValueOf<K>, 'seq'>;

/** Writes (or with `null` deletes) one control-plane field and announces it; returns its seq. */
export async function writeControl<K extends ControlKind>(
  redis: ControlRedis,
  kind: K,
  field: string,
  value: Unsequenced<K> | null,
  keys: ControlKeys = controlKeys(),
): Promise<number> {
  const hash = hashFor(kind, keys);
  let body = '';
  if (value !== null) {
    const { seq: _ignored, ...rest } = value as Unsequenced<K> & { seq?: number };
    body = JSON.stringify(rest);
    const error = checkControlValue(kind, { ...rest, seq: 0 });
    if (error) throw new TypeError(`invalid ${kind} value: ${error}`);
    if (body === '{}') throw new TypeError(`invalid ${kind} value: empty`);
  }
  if (kind === 'override' && parseOverrideField(field) === null) throw new TypeError('override field must be <ruleId>|<clientKey>');
  if (!redis.isCluster) {
    return Number(await redis.eval(WRITE_SCRIPT, 2, hash, keys.seq, kind, field, body, JSON.stringify(field), keys.channel));
  }
  const seq = Number(await redis.eval(NEXT_SEQ_SCRIPT, 1, keys.seq));
  const stored = value === null ? null : `{"seq":${seq},${body.slice(1)}`;
  if (stored === null) await redis.hdel(hash, field);
  else await redis.hset(hash, field, stored);
  await redis.publish(keys.channel, `{"v":1,"seq":${seq},"kind":"${kind}","field":${JSON.stringify(field)},"value":${stored ?? 'null'}}`);
  return seq;
}

export interface ControlState {
  readonly seq: number;
  readonly overrides: ReadonlyMap<string, OverrideValue>;
  readonly blocks: ReadonlyMap<string, BlockValue>;
  readonly load: ReadonlyMap<string, LoadValue>;
  /** Fields whose stored JSON did not decode (counted and ignored by callers). */
  readonly invalid: ReadonlyArray<{ kind: ControlKind; field: string; error: string }>;
}

/** Reads the whole control state. `seq` is read first, so the state is at least as new as `seq`. */
export async function readControlState(redis: ControlRedis, keys: ControlKeys = controlKeys()): Promise<ControlState> {
  const seq = Number((await redis.get(keys.seq)) ?? 0);
  const [overrides, blocks, load] = await Promise.all([redis.hgetall(keys.overrides), redis.hgetall(keys.blocks), redis.hgetall(keys.load)]);
  const invalid: Array<{ kind: ControlKind; field: string; error: string }> = [];
  const decodeAll = <K extends ControlKind>(kind: K, raw: Record<string, string>): Map<string, ValueOf<K>> => {
    const out = new Map<string, ValueOf<K>>();
    for (const [field, text] of Object.entries(raw)) {
      const decoded = decodeControlValue(kind, text);
      if (decoded.ok) out.set(field, decoded.value);
      else invalid.push({ kind, field, error: decoded.error });
    }
    return out;
  };
  return { seq, overrides: decodeAll('override', overrides), blocks: decodeAll('block', blocks), load: decodeAll('load', load), invalid };
}

export { kindOf as controlKindOfHash };
