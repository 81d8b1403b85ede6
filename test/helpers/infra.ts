/**
 * Real infrastructure for tests. `npm run infra:up` (called by `npm test`) starts Redis and Kafka
 * and writes `.infra.env`; tests read it here. A test that needs Redis or Kafka and cannot reach
 * it FAILS with the reason — it never skips.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis, Cluster } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';

export const ROOT = join(import.meta.dirname, '..', '..');

let cachedEnv: Record<string, string> | null = null;

/** `.infra.env` merged under the process environment (the environment wins). */
export function infraEnv(): Record<string, string> {
  if (cachedEnv) return cachedEnv;
  const file = join(ROOT, '.infra.env');
  const fromFile: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) fromFile[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
    }
  }
  cachedEnv = { ...fromFile };
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && /^(REDIS_|KAFKA_|RW_INFRA_|HELM_BIN)/.test(k)) cachedEnv[k] = v;
  return cachedEnv;
}

function need(name: string, hint: string): string {
  const value = infraEnv()[name];
  if (!value) throw new Error(`${name} is not set and .infra.env has no ${name}: ${hint}`);
  return value;
}

export function redisUrl(): string {
  return need('REDIS_URL', 'run `npm run infra:up` (npm test does it for you)');
}

export function kafkaBrokers(): string[] {
  return need('KAFKA_BROKERS', 'run `npm run infra:up` (npm test does it for you)').split(',');
}

export function clusterNodes(): Array<{ host: string; port: number }> {
  return need('REDIS_CLUSTER_NODES', 'run `npm run infra:up -- --cluster` (npm test does it for you)')
    .split(',')
    .map((hp) => {
      const [host, port] = hp.split(':');
      return { host: host!, port: Number(port) };
    });
}

/** A connected Redis client, or a failure that says why (never a skip). */
export async function connectRedis(): Promise<Redis> {
  const url = redisUrl();
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new Error(`Redis at ${url} is not reachable (${(err as Error).message}); run \`npm run infra:up\``);
  }
  return client;
}

export async function connectCluster(): Promise<Cluster> {
  const nodes = clusterNodes();
  const cluster = new Cluster(nodes, { lazyConnect: true, redisOptions: { connectTimeout: 2_000, maxRetriesPerRequest: 1 } });
  try {
    await cluster.connect();
    await cluster.ping();
  } catch (err) {
    cluster.disconnect();
    throw new Error(`Redis Cluster at ${nodes.map((n) => `${n.host}:${n.port}`).join(',')} is not reachable (${(err as Error).message}); run \`npm run infra:up -- --cluster\``);
  }
  return cluster;
}

export function kafka(clientId = 'ratewarden-test'): Kafka {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  return new Kafka({ clientId, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING, retry: { retries: 3 } });
}

/** Fails (never skips) when the broker does not answer. */
export async function requireKafka(): Promise<Kafka> {
  const k = kafka();
  const admin = k.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (err) {
    throw new Error(`Kafka at ${kafkaBrokers().join(',')} is not reachable (${(err as Error).message}); run \`npm run infra:up\``);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  return k;
}

/** A short random name so tests sharing one Redis / Kafka never see each other's keys or topics. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Environment for a child process (sidecar, analyzer) pointed at the test infrastructure. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' };
  delete env.REDIS_URL;
  delete env.REDIS_CLUSTER_NODES;
  delete env.KAFKA_BROKERS;
  return { ...env, ...extra };
}
