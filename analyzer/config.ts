/**
 * The analyzer's start-up configuration: `ratewarden analyzer --config F [--listen H:P]` over
 * environment (DESIGN.md). Pure, so the Helm chart's args are checked by this code in a test.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { ErrorCodes, RatewardenError } from '../models/errors.js';
import { parseDuration } from '../models/duration.js';
import { kafkaConnectionFromEnv, logLevelFromEnv, parseListen, redisConnectionFromEnv, type KafkaConnection, type RedisConnection } from '../models/infra.js';

export interface AnalyzerStartConfig {
  readonly configFile: string;
  readonly listen: { host: string; port: number };
  readonly redis: RedisConnection | null;
  readonly kafka: KafkaConnection | null;
  /** Kafka consumer group (RW_GROUP_ID); instances of one group split the partitions. */
  readonly groupId: string;
  /** Bearer token for the operator API (RW_ADMIN_TOKEN); the API refuses to start writable without one. */
  readonly adminToken: string | null;
  /** Optional read-only token (RW_READONLY_TOKEN). */
  readonly readonlyToken: string | null;
  readonly instance: string;
  readonly ctlPrefix: string;
  /** Learned model directory (--model, RW_MODEL_DIR): `shipped` (default), a directory, or `none`. */
  readonly model: string;
  /** Scheduled retraining (--retrain-every, RW_RETRAIN_EVERY), or null (off, the default). */
  readonly retrainEveryMs: number | null;
  /** Where retrained versions are written (--model-out, RW_MODEL_OUT). */
  readonly modelOut: string;
  /** Retrained versions kept under modelOut after a retraining (--retrain-keep, RW_RETRAIN_KEEP, default 5). */
  readonly retrainKeep: number;
  /** Key prefix of the report store (RW_REPORTS_PREFIX, default rw:anomalies). */
  readonly reportsPrefix: string;
  /** A new consumer group starts at the oldest retained event instead of new ones (RW_FROM_BEGINNING=1). */
  readonly fromBeginning: boolean;
  /** Key prefix of the state snapshots (RW_STATE_PREFIX, default rw:analyzer:state); the group id follows it. */
  readonly statePrefix: string;
  /** How often learned state is written to Redis (RW_STATE_SNAPSHOT_EVERY, default 60s); null: snapshots off (`off`). */
  readonly snapshotEveryMs: number | null;
  /** Lifetime of a snapshot not rewritten (RW_STATE_TTL, default 7d). */
  readonly stateTtlMs: number;
  /** pino level of its log (RW_LOG_LEVEL, default info; an unknown one is a start-up error). */
  readonly logLevel: string;
}

export const ANALYZER_USAGE = 'usage: ratewarden analyzer --config FILE [--listen HOST:PORT] [--group ID] [--model DIR|none] [--retrain-every DUR] [--model-out DIR] [--retrain-keep N]\n       ratewarden analyzer --train --out DIR [--source simulator|generator|FILE] [--version V] [--clients N] [--minutes N] [--seed N] [--epochs N]';

export function parseAnalyzerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AnalyzerStartConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { config: { type: 'string' }, listen: { type: 'string' }, group: { type: 'string' }, model: { type: 'string' }, 'retrain-every': { type: 'string' }, 'model-out': { type: 'string' }, 'retrain-keep': { type: 'string' } },
      strict: true,
    });
  } catch (err) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${(err as Error).message}\n${ANALYZER_USAGE}`);
  }
  const v = parsed.values;
  const configFile = v.config ?? env.RW_CONFIG;
  if (!configFile) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--config is required\n${ANALYZER_USAGE}`);
  const model = v.model ?? env.RW_MODEL_DIR ?? 'shipped';
  // a directory named explicitly that is not there is a mistake, not a reason to run without the
  // learned detector (a model that is there but fails to load still only warns: /healthz says so)
  if (model !== 'shipped' && model !== 'none' && !existsSync(model)) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--model: no such directory ${model} (a directory holding model.json, shipped for the model in the package, or none)\n${ANALYZER_USAGE}`);
  }
  return {
    configFile,
    listen: parseListen(v.listen ?? env.RW_LISTEN ?? '0.0.0.0:9090', '--listen', '0.0.0.0'),
    redis: redisConnectionFromEnv(env),
    kafka: kafkaConnectionFromEnv(env),
    groupId: groupId(v.group, env.RW_GROUP_ID),
    adminToken: bearerTokenFromEnv(env.RW_ADMIN_TOKEN, 'RW_ADMIN_TOKEN'),
    readonlyToken: bearerTokenFromEnv(env.RW_READONLY_TOKEN, 'RW_READONLY_TOKEN'),
    instance: env.RW_POD ?? hostname(),
    ctlPrefix: env.RW_CTL_PREFIX || 'rw:ctl',
    model,
    retrainEveryMs: optionalDuration(v['retrain-every'] ?? env.RW_RETRAIN_EVERY, '--retrain-every'),
    modelOut: v['model-out'] ?? env.RW_MODEL_OUT ?? 'models/artifacts',
    retrainKeep: retrainKeep(v['retrain-keep'] ?? env.RW_RETRAIN_KEEP),
    reportsPrefix: env.RW_REPORTS_PREFIX || 'rw:anomalies',
    fromBeginning: env.RW_FROM_BEGINNING === '1' || env.RW_FROM_BEGINNING === 'true',
    statePrefix: env.RW_STATE_PREFIX || 'rw:analyzer:state',
    // a timer: at most 24d (Node fires a longer interval every millisecond)
    snapshotEveryMs: env.RW_STATE_SNAPSHOT_EVERY === 'off' ? null : (durationAtLeast(env.RW_STATE_SNAPSHOT_EVERY, 'RW_STATE_SNAPSHOT_EVERY', 1_000, MAX_TIMER_MS) ?? 60_000),
    stateTtlMs: durationAtLeast(env.RW_STATE_TTL, 'RW_STATE_TTL', 60_000) ?? 7 * 86_400_000,
    logLevel: logLevelFromEnv(env),
  };
}

/**
 * An operator API token as a bearer header carries it: surrounding white space is dropped (a Secret
 * made from a file ends in a newline, and the CLI and the UI send the token trimmed: kept, it made
 * every request a 401), nothing left is no token; one that is still not one word of printable ASCII
 * could never be presented, so it is a start-up error (the token itself is not printed).
 */
/** A bearer token from the environment, trimmed (a file-made Secret ends in a newline); empty is none; other white space or non-ASCII is a start-up error that does not print it. */
export function bearerTokenFromEnv(value: string | undefined, name: string): string | null {
  const token = value?.trim() ?? '';
  if (token === '') return null;
  if (!/^[\x21-\x7e]+$/.test(token)) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${name} contains white space, control or non-ASCII characters: a bearer token is one word of printable ASCII`);
  return token;
}

/** The consumer group: --group over RW_GROUP_ID; an empty variable is the default (kafkajs refuses an empty group id). */
function groupId(flag: string | undefined, envValue: string | undefined): string {
  const id = flag ?? (envValue || 'ratewarden-analyzer');
  if (id.trim() === '') throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--group must not be empty\n${ANALYZER_USAGE}`);
  return id;
}

/** Retrained versions kept under --model-out after a retraining (--retrain-keep). */
export const DEFAULT_RETRAIN_KEEP = 5;

/** Retrained versions to keep: a whole number of at least 1 (the one in use is never removed). */
function retrainKeep(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_RETRAIN_KEEP;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--retrain-keep: "${text}" is not a whole number of at least 1 (retrained model versions kept, default ${DEFAULT_RETRAIN_KEEP})\n${ANALYZER_USAGE}`);
  return n;
}

/** Node's timers hold at most 2^31 − 1 ms and fire a longer one after 1 ms: durations run as timers stay under 24d. */
const MAX_TIMER_MS = 24 * 86_400_000;

function durationAtLeast(text: string | undefined, what: string, minMs: number, maxMs = Number.POSITIVE_INFINITY): number | null {
  if (text === undefined || text === '') return null;
  const ms = parseDuration(text);
  if (ms === null || ms < minMs) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what}: "${text}" is not a duration of at least ${minMs / 1000}s (e.g. 60s, 7d)`);
  if (ms > maxMs) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what}: "${text}" is longer than 24d (it is a timer)`);
  return ms;
}

function optionalDuration(text: string | undefined, what: string): number | null {
  if (text === undefined || text === '' || text === 'off') return null;
  const ms = parseDuration(text);
  if (ms === null || ms < 60_000) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what}: "${text}" is not a duration of at least 1m (e.g. 6h)\n${ANALYZER_USAGE}`);
  if (ms > MAX_TIMER_MS) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what}: "${text}" is longer than 24d (it is a timer)\n${ANALYZER_USAGE}`);
  return ms;
}

/** `ratewarden analyzer --train …`: trains the learned model and exits. */
export interface AnalyzerTrainConfig {
  readonly outDir: string;
  readonly version: string | null;
  /** `simulator`, `generator`, or a file of feature vectors. */
  readonly source: string;
  readonly clients: number | null;
  readonly minutes: number | null;
  readonly seed: number | null;
  readonly epochs: number | null;
}

export function isTrainInvocation(argv: readonly string[]): boolean {
  return argv.includes('--train');
}

export function parseAnalyzerTrainArgs(argv: readonly string[]): AnalyzerTrainConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        train: { type: 'boolean' },
        out: { type: 'string' },
        version: { type: 'string' },
        source: { type: 'string' },
        clients: { type: 'string' },
        minutes: { type: 'string' },
        seed: { type: 'string' },
        epochs: { type: 'string' },
        config: { type: 'string' },
      },
      strict: true,
    });
  } catch (err) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${(err as Error).message}\n${ANALYZER_USAGE}`);
  }
  const v = parsed.values;
  if (!v.out) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--train needs --out DIR (e.g. models/artifacts/autoencoder-v2)\n${ANALYZER_USAGE}`);
  const int = (text: string | undefined, what: string): number | null => {
    if (text === undefined) return null;
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what} must be a positive integer (got "${text}")`);
    return n;
  };
  return {
    outDir: v.out,
    version: v.version ?? null,
    source: v.source ?? 'simulator',
    clients: int(v.clients, '--clients'),
    minutes: int(v.minutes, '--minutes'),
    seed: int(v.seed, '--seed'),
    epochs: int(v.epochs, '--epochs'),
  };
}
