/**
 * The sidecar's start-up configuration: flags (`ratewarden sidecar --config F --upstream URL
 * [--listen H:P] [--admin H:P]`) over environment (DESIGN.md). Pure: argv and env in, config or
 * a RatewardenError out, so the Helm chart's args are checked by this same code in a test.
 */
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { ErrorCodes, RatewardenError } from '../models/errors.js';
import { CALL_EVENT_LIMITS, eventsTopic } from '../models/events.js';
import { kafkaConnectionFromEnv, logLevelFromEnv, parseListen, redisConnectionFromEnv, type KafkaConnection, type RedisConnection } from '../models/infra.js';

export interface SidecarConfig {
  readonly configFile: string;
  readonly upstream: URL;
  readonly listen: { host: string; port: number };
  readonly admin: { host: string; port: number };
  readonly redis: RedisConnection | null;
  readonly kafka: KafkaConnection | null;
  readonly eventsTopic: string;
  readonly pod: string;
  readonly service: string;
  /** Control-plane key prefix (RW_CTL_PREFIX); the contract's `rw:ctl` unless tests separate themselves. */
  readonly ctlPrefix: string;
  /** Seconds to drain in-flight requests on SIGTERM. */
  readonly drainSeconds: number;
  /**
   * Seconds between SIGTERM and the drain, serving as usual while `/readyz` already answers 503
   * (RW_SHUTDOWN_DELAY, default 0): the time Kubernetes takes to take the pod out of its Service's
   * endpoints, during which new connections still arrive.
   */
  readonly shutdownDelaySeconds: number;
  /** pino level (RW_LOG_LEVEL, default info; an unknown one is a start-up error). */
  readonly logLevel: string;
  /** Cap on the proxy listener's open connections (RW_MAX_CONNECTIONS, default DEFAULT_MAX_CONNECTIONS). */
  readonly maxConnections: number;
}

/**
 * Connections the proxy listener holds open at most (RW_MAX_CONNECTIONS): each costs memory and a
 * descriptor, and a client could otherwise open them without bound. One more is closed at once and
 * counted (`ratewarden_connections_refused_total`). Far above what a pod's clients and load
 * balancers keep open (`npm run bench` opens at most 768).
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const MAX_MAX_CONNECTIONS = 1_000_000;

/** `--max-connections` over RW_MAX_CONNECTIONS (empty: the default), or a start-up error naming both. */
export function maxConnectionsFromEnv(env: NodeJS.ProcessEnv, flag?: string): number {
  const text = flag ?? env.RW_MAX_CONNECTIONS;
  if (text === undefined || (flag === undefined && text === '')) return DEFAULT_MAX_CONNECTIONS;
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(Number.isSafeInteger(n) && n >= 1 && n <= MAX_MAX_CONNECTIONS)) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--max-connections (RW_MAX_CONNECTIONS) must be a whole number of connections from 1 to ${MAX_MAX_CONNECTIONS} (got "${text}")`);
  }
  return n;
}

export const SIDECAR_USAGE = 'usage: ratewarden sidecar --config FILE --upstream URL [--listen HOST:PORT] [--admin HOST:PORT] [--max-connections N]';

/** The upstream's URL (`--upstream`, RW_UPSTREAM): http:// or https://, else a start-up error naming `what`. */
export function parseUpstream(text: string, what: string): URL {
  let upstream: URL;
  try {
    upstream = new URL(text);
  } catch {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what}: "${text}" is not a URL (e.g. http://127.0.0.1:3000)`);
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what} must be http:// or https:// (got ${upstream.protocol})`);
  return upstream;
}

/**
 * A number of seconds from a flag over its variable: an empty variable (`value: ""` in a manifest) is
 * the default, as for the other RW_* variables (Number("") is 0: it silently cut every in-flight
 * request at SIGTERM); a blank flag is NaN, refused by the caller's range check.
 */
function secondsOption(flag: string | undefined, envValue: string | undefined, fallback: number): number {
  const text = flag ?? (envValue === '' ? undefined : envValue);
  if (text === undefined) return fallback;
  return text.trim() === '' ? Number.NaN : Number(text);
}

export function parseSidecarArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        upstream: { type: 'string' },
        listen: { type: 'string' },
        admin: { type: 'string' },
        pod: { type: 'string' },
        service: { type: 'string' },
        'drain-seconds': { type: 'string' },
        'shutdown-delay': { type: 'string' },
        'max-connections': { type: 'string' },
      },
      strict: true,
    });
  } catch (err) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${(err as Error).message}\n${SIDECAR_USAGE}`);
  }
  const v = parsed.values;
  const configFile = v.config ?? env.RW_CONFIG;
  if (!configFile) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--config is required\n${SIDECAR_USAGE}`);
  const upstreamText = v.upstream ?? env.RW_UPSTREAM;
  if (!upstreamText) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `--upstream is required\n${SIDECAR_USAGE}`);
  const upstream = parseUpstream(upstreamText, '--upstream');
  const drain = secondsOption(v['drain-seconds'], env.RW_DRAIN_SECONDS, 10);
  // a timer: a day at most (Node fires a timer over 24.8 days after 1 ms, which skipped the drain)
  if (!(drain >= 0 && drain <= 86_400)) throw new RatewardenError(ErrorCodes.CONFIG_ARG, '--drain-seconds (RW_DRAIN_SECONDS) must be a number of seconds from 0 to 86400');
  const delay = secondsOption(v['shutdown-delay'], env.RW_SHUTDOWN_DELAY, 0);
  if (!(delay >= 0 && delay <= 300)) throw new RatewardenError(ErrorCodes.CONFIG_ARG, '--shutdown-delay (RW_SHUTDOWN_DELAY) must be a number of seconds from 0 to 300');
  const MAX_EVENT_NAME = CALL_EVENT_LIMITS.maxName;
  const pod = v.pod ?? env.RW_POD ?? hostname();
  const service = v.service ?? env.RW_SERVICE ?? 'default';
  // every event carries both; the analyzer's decoder refuses longer ones, so it would skip every event
  for (const [flag, value] of [['--pod (RW_POD)', pod], ['--service (RW_SERVICE)', service]] as const) {
    if (value.length === 0 || value.length > MAX_EVENT_NAME) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${flag} must be 1 to ${MAX_EVENT_NAME} characters (got ${value.length})`);
  }
  return {
    configFile,
    upstream,
    listen: parseListen(v.listen ?? env.RW_LISTEN ?? '0.0.0.0:8080', '--listen', '0.0.0.0'),
    admin: parseListen(v.admin ?? env.RW_ADMIN_LISTEN ?? '127.0.0.1:9091', '--admin', '127.0.0.1'),
    redis: redisConnectionFromEnv(env),
    kafka: kafkaConnectionFromEnv(env),
    eventsTopic: eventsTopic(env),
    pod,
    service,
    ctlPrefix: env.RW_CTL_PREFIX || 'rw:ctl',
    drainSeconds: drain,
    shutdownDelaySeconds: delay,
    logLevel: logLevelFromEnv(env),
    maxConnections: maxConnectionsFromEnv(env, v['max-connections']),
  };
}
