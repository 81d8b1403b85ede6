/**
 * Connections both programs make: Redis (single node or Cluster, TLS, AUTH) and Kafka (brokers,
 * TLS, SASL), read from the environment of DESIGN.md. Flags win over env; callers pass overrides.
 */
import { readFileSync } from 'node:fs';
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { ErrorCodes, RatewardenError } from './errors.js';

export interface RedisConnection {
  /** redis:// or rediss:// URL (single node), or null. */
  readonly url: string | null;
  /** host:port seed nodes of a Redis Cluster, or null. */
  readonly clusterNodes: ReadonlyArray<{ host: string; port: number }> | null;
  /** PEM file with the CA for rediss:// (REDIS_TLS_CA_FILE), optional. */
  readonly caFile: string | null;
  /** Cluster AUTH (REDIS_PASSWORD / REDIS_USERNAME; a URL carries its own). */
  readonly username: string | null;
  readonly password: string | null;
  /** rediss:// for Cluster nodes (REDIS_TLS=true). */
  readonly clusterTls: boolean;
}

export function redisConnectionFromEnv(env: NodeJS.ProcessEnv = process.env): RedisConnection | null {
  const url = env.REDIS_URL?.trim() || null;
  const nodes = env.REDIS_CLUSTER_NODES?.trim() || null;
  if (!url && !nodes) return null;
  if (url && !/^rediss?:\/\//.test(url)) throw new RatewardenError(ErrorCodes.CONFIG_STORE, `REDIS_URL must start with redis:// or rediss:// (got "${url.replace(/\/\/.*@/, '//***@')}")`);
  return {
    url: nodes ? null : url,
    clusterNodes: nodes ? parseHostPorts(nodes, 'REDIS_CLUSTER_NODES', 6379) : null,
    caFile: env.REDIS_TLS_CA_FILE || null,
    username: env.REDIS_USERNAME || null,
    password: env.REDIS_PASSWORD || null,
    clusterTls: env.REDIS_TLS === 'true' || env.REDIS_TLS === '1',
  };
}

/** When both REDIS_URL and REDIS_CLUSTER_NODES are set, what happens (said at start: the Cluster wins). */
export function redisEnvNote(env: NodeJS.ProcessEnv = process.env): string | null {
  return env.REDIS_URL?.trim() && env.REDIS_CLUSTER_NODES?.trim() ? 'both REDIS_URL and REDIS_CLUSTER_NODES are set: using the Cluster (REDIS_CLUSTER_NODES), REDIS_URL is ignored' : null;
}

/** Where a connection goes, without credentials (for the start-up line). */
export function redisTarget(conn: RedisConnection | null): string {
  if (conn === null) return 'none';
  if (conn.clusterNodes) return 'cluster ' + conn.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',');
  return redactUrl(conn.url!);
}

/**
 * A connection URL without its user info, query or fragment: ioredis reads options from the query
 * too, a password among them (`redis://host:6379/0?password=…`). Parsed as a URL (a password may
 * hold `@`, and ioredis splits the user info at the last one); when it does not parse, everything
 * up to the last `@` before the path goes, and everything from the first `?` or `#` after that.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    const start = url.indexOf('//');
    const head = start < 0 ? '' : url.slice(0, start + 2);
    let rest = start < 0 ? url : url.slice(start + 2);
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const at = authority.lastIndexOf('@');
    if (at >= 0) rest = rest.slice(at + 1);
    const query = rest.search(/[?#]/);
    return head + (query < 0 ? rest : rest.slice(0, query));
  }
}

export function parseHostPorts(text: string, what: string, defaultPort: number): Array<{ host: string; port: number }> {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(entry);
      const port = m?.[2] ? Number(m[2]) : defaultPort;
      if (!m || port < 1 || port > 65535) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what}: "${entry}" is not host:port`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
    });
}

export type RedisClient = Redis | Cluster;

/**
 * A client tuned for the request path: short connect and command timeouts, no offline queue growth
 * beyond one reconnect, so a dead Redis turns into fast errors that failMode handles, never stalls.
 */
export function createRedisClient(conn: RedisConnection, opts: { commandTimeoutMs?: number; name?: string; lazyConnect?: boolean } = {}): RedisClient {
  const tls = conn.caFile ? { ca: readFileSync(conn.caFile) } : undefined;
  const common: RedisOptions = {
    connectionName: opts.name ?? 'ratewarden',
    connectTimeout: 2_000,
    commandTimeout: opts.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    lazyConnect: opts.lazyConnect ?? false,
    // reconnect attempts at most 500 ms apart: with the store's breaker probing every ≤ 1 s, limits
    // come from Redis again within 2 s of its return (test/chaos/redisStandalone.test.ts)
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 500),
    ...(conn.username ? { username: conn.username } : {}),
    ...(conn.password ? { password: conn.password } : {}),
  };
  if (conn.clusterNodes) {
    const clusterOpts: ClusterOptions = {
      redisOptions: { ...common, ...(conn.clusterTls || tls ? { tls: tls ?? {} } : {}) },
      enableAutoPipelining: true,
      lazyConnect: opts.lazyConnect ?? false,
      clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
      slotsRefreshTimeout: 2_000,
      enableOfflineQueue: true,
    };
    return new Cluster(conn.clusterNodes.map((n) => ({ host: n.host, port: n.port })), clusterOpts);
  }
  const url = conn.url!;
  return new Redis(url, { ...common, ...(url.startsWith('rediss://') ? { tls: tls ?? {} } : {}) });
}

/**
 * Whether Redis, reached with the configured credentials and TLS, refuses us for a reason that no
 * retry will fix: a wrong or missing password (WRONGPASS, NOAUTH) or a server certificate the
 * client does not trust. Programs refuse to start on it (a misconfiguration must not pass for an
 * outage and run on fail-open limits for ever). A Redis that is merely unreachable is not a
 * problem here: failMode handles that. Resolves to the reason, or null. (Cluster: the first seed.)
 */
export async function redisStartupProblem(conn: RedisConnection, timeoutMs = 2_000): Promise<string | null> {
  const tls = conn.caFile ? { ca: readFileSync(conn.caFile) } : undefined;
  const opts: RedisOptions = { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, commandTimeout: timeoutMs };
  const seed = conn.clusterNodes?.[0];
  // the same credentials the real client sends (createRedisClient): REDIS_USERNAME/REDIS_PASSWORD
  // apply to a single node too, where they win over any in the URL
  const auth: RedisOptions = { ...(conn.username ? { username: conn.username } : {}), ...(conn.password ? { password: conn.password } : {}) };
  const client = seed
    ? new Redis({ ...opts, host: seed.host, port: seed.port, ...auth, ...(conn.clusterTls || tls ? { tls: tls ?? {} } : {}) })
    : new Redis(conn.url!, { ...opts, ...auth, ...(conn.url!.startsWith('rediss://') ? { tls: tls ?? {} } : {}) });
  let last: Error | null = null;
  client.on('error', (err: Error) => (last = err));
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (err) {
    const message = ((last as Error | null) ?? (err as Error)).message;
    if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) return `Redis refused the credentials: ${message}`;
    if (/certificate|self[- ]signed|unable to verify|wrong version number|ssl|tls/i.test(message)) return `TLS to Redis failed: ${message}`;
    return null;
  } finally {
    client.disconnect();
  }
}

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly ssl: boolean;
  readonly caFile: string | null;
  readonly sasl: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | null;
}

export function kafkaConnectionFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaConnection | null {
  const brokers = env.KAFKA_BROKERS?.trim();
  if (!brokers) return null;
  const list = parseHostPorts(brokers, 'KAFKA_BROKERS', 9092).map((b) => (b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`));
  const mechanism = (env.KAFKA_SASL_MECHANISM || '').toLowerCase();
  if (mechanism && !['plain', 'scram-sha-256', 'scram-sha-512'].includes(mechanism)) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512 (got "${mechanism}")`);
  }
  return {
    brokers: list,
    ssl: env.KAFKA_SSL === 'true' || env.KAFKA_SSL === '1' || Boolean(env.KAFKA_CA_FILE),
    caFile: env.KAFKA_CA_FILE || null,
    sasl: mechanism ? { mechanism: mechanism as 'plain', username: env.KAFKA_SASL_USERNAME ?? '', password: env.KAFKA_SASL_PASSWORD ?? '' } : null,
  };
}

export function createKafka(conn: KafkaConnection, clientId: string): Kafka {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  const config: KafkaConfig = {
    clientId,
    brokers: [...conn.brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
  };
  if (conn.ssl) config.ssl = conn.caFile ? { ca: [readFileSync(conn.caFile, 'utf8')] } : true;
  // a copy: kafkajs caches an authenticator (bound to these credentials) on the object it is given
  if (conn.sasl) config.sasl = { ...conn.sasl } as SASLOptions;
  return new Kafka(config);
}

/** The log levels RW_LOG_LEVEL takes (pino's, which both programs log with). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * RW_LOG_LEVEL as a pino level: unset or empty (`value: ""` in a manifest) is `info`, case does not
 * matter; anything else is a start-up error naming the variable (pino threw a stack trace, exit 1).
 */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const text = (env.RW_LOG_LEVEL ?? '').trim();
  if (text === '') return 'info';
  const level = text.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `RW_LOG_LEVEL: ${JSON.stringify(text.slice(0, 40))} is not a log level (${LOG_LEVELS.join(', ')})`);
  }
  return level;
}

/** `host:port`, `:port`, `port` or `[v6]:port` → listen address. */
export function parseListen(text: string, what: string, defaultHost: string): { host: string; port: number } {
  const trimmed = text.trim();
  const m = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(trimmed);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${what}: "${text}" is not host:port`);
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '') || defaultHost;
  return { host, port };
}
