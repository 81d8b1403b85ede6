/**
 * Real infrastructure for tests. `npm run infra:up` (called by `npm test`) starts Redis and Kafka
 * and writes `.infra.env`; tests read it here. A test that needs Redis or Kafka and cannot reach
 * it FAILS with the reason — it never skips.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis, Cluster } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { infraEnv as readInfraEnv } from '../../bench/machine.js';
import { controlKeys } from '../../models/control.js';

export const ROOT = join(import.meta.dirname, '..', '..');

let cachedEnv: Record<string, string> | null = null;

/** `.infra.env` merged under the process environment (the environment wins); read once. */
export function infraEnv(): Record<string, string> {
  return (cachedEnv ??= readInfraEnv());
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

/** Creates topics on the test broker (`numPartitions` each) and waits for their leaders; an existing topic is kept. */
export async function createTopics(kafka: Kafka, topics: ReadonlyArray<{ topic: string; numPartitions: number }>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((t) => ({ ...t, replicationFactor: 1 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Test cleanup: deletes the topics (best effort; nothing when Kafka was never reached). */
export async function deleteTopics(kafka: Kafka | undefined, topics: readonly string[]): Promise<void> {
  if (!kafka || topics.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [...topics] }).catch(() => undefined);
  await admin.disconnect();
}

/** Test cleanup: the control-plane keys of `ctlPrefix` and every key matching `patterns`; disconnects. */
export async function dropKeys(redis: Redis | undefined, ctlPrefix: string, patterns: readonly string[] = []): Promise<void> {
  if (!redis) return;
  const k = controlKeys(ctlPrefix);
  const stale = (await Promise.all(patterns.map((p) => redis.keys(p)))).flat();
  await redis.del(k.blocks, k.overrides, k.load, k.seq, ...stale);
  redis.disconnect();
}
