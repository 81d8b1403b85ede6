/**
 * The analyzer's start-up configuration: `ratewarden analyzer --config F [--listen H:P]` over
 * environment (DESIGN.md). Pure, so the Helm chart's args are checked by this code in a test.
 */
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { ErrorCodes, RatewardenError } from '../models/errors.js';
import { eventsTopic } from '../models/events.js';
import { kafkaConnectionFromEnv, parseListen, redisConnectionFromEnv, type KafkaConnection, type RedisConnection } from '../models/infra.js';

export interface AnalyzerStartConfig {
  readonly configFile: string;
  readonly listen: { host: string; port: number };
  readonly redis: RedisConnection | null;
  readonly kafka: KafkaConnection | null;
  readonly eventsTopic: string;
  /** Kafka consumer group (RW_GROUP_ID); instances of one group split the partitions. */
  readonly groupId: string;
  /** Bearer token for the operator API (RW_ADMIN_TOKEN); the API refuses to start writable without one. */
  readonly adminToken: string | null;
  /** Optional read-only token (RW_READONLY_TOKEN). */
  readonly readonlyToken: string | null;
  readonly instance: string;
  readonly ctlPrefix: string;
}

export const ANALYZER_USAGE = 'usage: ratewarden analyzer --config FILE [--listen HOST:PORT]';

export function parseAnalyzerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AnalyzerStartConfig {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { config: { type: 'string' }, listen: { type: 'string' }, group: { type: 'string' } }, strict: true });
  } catch (err) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${(err as Error).message}\n${ANALYZER_USAGE}`);
  }
  const v = parsed.values;
  const configFile = v.config ?? env.RW_CONFIG;
  if (!configFile) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--config is required\n${ANALYZER_USAGE}`);
  return {
    configFile,
    listen: parseListen(v.listen ?? env.RW_LISTEN ?? '0.0.0.0:9090', '--listen', '0.0.0.0'),
    redis: redisConnectionFromEnv(env),
    kafka: kafkaConnectionFromEnv(env),
    eventsTopic: eventsTopic(env),
    groupId: v.group ?? env.RW_GROUP_ID ?? 'ratewarden-analyzer',
    adminToken: env.RW_ADMIN_TOKEN || null,
    readonlyToken: env.RW_READONLY_TOKEN || null,
    instance: env.RW_POD ?? hostname(),
    ctlPrefix: env.RW_CTL_PREFIX || 'rw:ctl',
  };
}
