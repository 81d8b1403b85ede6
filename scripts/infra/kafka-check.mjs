#!/usr/bin/env node
// Kafka readiness probe and kafkajs compatibility check for scripts/infra.
//
//   node scripts/infra/kafka-check.mjs wait  [--brokers H:P] [--timeout S] [--pid PID]
//       Retries an admin listTopics() until it succeeds (exit 0) or the timeout passes (exit 1).
//       With --pid it gives up as soon as that process has exited.
//   node scripts/infra/kafka-check.mjs check [--brokers H:P] [--kafka-version V]
//       Creates a 3-partition topic, produces 100 keyed GZIP messages, consumes them in a consumer
//       group (fromBeginning), commits offsets, checks them with fetchOffsets, describes the group,
//       deletes group and topic. Prints "kafkajs <v> ↔ Kafka <v>: produce/consume/commit OK".
//
// Brokers default to $KAFKA_BROKERS, then 127.0.0.1:19092.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'package.json'));
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');
const kafkajsVersion = require('kafkajs/package.json').version;

function parseArgs(argv) {
  const out = { mode: 'wait', timeout: 90, brokers: process.env.KAFKA_BROKERS || '127.0.0.1:19092' };
  const rest = [...argv];
  while (rest.length) {
    const k = rest.shift();
    if (!k.startsWith('--')) {
      out.mode = k;
      continue;
    }
    const v = rest.shift();
    if (v === undefined) throw new Error(`missing value for ${k}`);
    if (k === '--brokers') out.brokers = v;
    else if (k === '--timeout') out.timeout = Number(v);
    else if (k === '--pid') out.pid = Number(v);
    else if (k === '--kafka-version') out.kafkaVersion = v;
    else throw new Error(`unknown option ${k}`);
  }
  return out;
}

function infraEnv(key) {
  try {
    const text = readFileSync(join(root, '.infra.env'), 'utf8');
    const m = text.match(new RegExp(`^(?:export )?${key}=['"]?([^'"\\n]*)`, 'm'));
    return m ? m[1] : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function alive(pid) {
  if (!pid) return true;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // a zombie still answers kill(0)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return true;
  }
}

function describe(err) {
  if (!err) return 'unknown error';
  const parts = [`${err.name || 'Error'}: ${err.message}`];
  if (err.type) parts.push(`type=${err.type}`);
  if (err.code !== undefined) parts.push(`code=${err.code}`);
  if (err.originalError) parts.push(`cause: ${describe(err.originalError)}`);
  if (err.cause && err.cause !== err.originalError) parts.push(`cause: ${describe(err.cause)}`);
  return parts.join(' ');
}

async function waitReady({ brokers, timeout, pid }) {
  const deadline = Date.now() + timeout * 1000;
  let lastErr;
  while (Date.now() < deadline) {
    if (!alive(pid)) {
      console.error(`kafka: process ${pid} exited before the broker answered`);
      return 1;
    }
    const kafka = new Kafka({
      clientId: 'ratewarden-infra-wait',
      brokers: brokers.split(','),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retry: { retries: 0 },
    });
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      await admin.listTopics();
      await admin.disconnect();
      return 0;
    } catch (err) {
      lastErr = err;
      await admin.disconnect().catch(() => {});
    }
    await sleep(500);
  }
  console.error(`kafka: no answer from ${brokers} within ${timeout}s (last error: ${describe(lastErr)})`);
  return 1;
}

async function check({ brokers, kafkaVersion }) {
  const version = kafkaVersion || process.env.RW_INFRA_KAFKA_VERSION || infraEnv('RW_INFRA_KAFKA_VERSION') || '?';
  const errors = [];
  const kafka = new Kafka({
    clientId: 'ratewarden-infra-check',
    brokers: brokers.split(','),
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 5, initialRetryTime: 200 },
    logLevel: logLevel.ERROR,
    logCreator: () => ({ namespace, log }) => errors.push(`${namespace}: ${log.message}${log.error ? ` (${log.error})` : ''}`),
  });
  const suffix = `${Date.now().toString(36)}-${process.pid}`;
  const topic = `rw-infra-check-${suffix}`;
  const groupId = `rw-infra-check-${suffix}`;
  const total = 100;
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
  let step = 'admin.connect';
  let topicCreated = false;
  const run = async () => {
    await admin.connect();
    step = 'admin.createTopics';
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: 15000,
    });
    if (!created) throw new Error(`topic ${topic} already existed`);
    topicCreated = true;
    step = 'admin.fetchTopicMetadata';
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const parts = meta.topics[0].partitions.length;
    if (parts !== 3) throw new Error(`expected 3 partitions, got ${parts}`);

    step = 'producer.send (GZIP)';
    await producer.connect();
    const sent = new Map();
    for (let batch = 0; batch < 4; batch++) {
      const messages = [];
      for (let i = batch * 25; i < (batch + 1) * 25; i++) {
        const m = { key: `client-${i % 10}`, value: JSON.stringify({ v: 1, i, ts: Date.now() }) };
        messages.push(m);
        sent.set(i, m.key);
      }
      await producer.send({ topic, messages, acks: -1, compression: CompressionTypes.GZIP });
    }

    step = 'consumer.connect/subscribe';
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const seen = new Map(); // i -> partition
    const keyPartition = new Map();
    const nextOffsets = new Map(); // partition -> next offset
    step = 'consumer.run (join group, fetch)';
    let resolveDone;
    const done = new Promise((r) => (resolveDone = r));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const body = JSON.parse(message.value.toString());
        const key = message.key.toString();
        if (sent.get(body.i) !== key) throw new Error(`message ${body.i} came back with key ${key}`);
        if (keyPartition.has(key) && keyPartition.get(key) !== partition) {
          throw new Error(`key ${key} seen on partitions ${keyPartition.get(key)} and ${partition}`);
        }
        keyPartition.set(key, partition);
        seen.set(body.i, partition);
        const next = BigInt(message.offset) + 1n;
        if (!nextOffsets.has(partition) || nextOffsets.get(partition) < next) nextOffsets.set(partition, next);
        if (seen.size === total) resolveDone();
      },
    });
    await Promise.race([
      done,
      sleep(45000).then(() => {
        throw new Error(`consumed ${seen.size}/${total} messages in 45s`);
      }),
    ]);

    step = 'consumer.commitOffsets';
    await consumer.commitOffsets(
      [...nextOffsets].map(([partition, offset]) => ({ topic, partition, offset: offset.toString() })),
    );
    step = 'admin.fetchOffsets';
    const fetched = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = fetched[0].partitions.reduce((sum, p) => sum + Number(p.offset), 0);
    if (committed !== total) throw new Error(`committed offsets add up to ${committed}, expected ${total}`);

    step = 'admin.describeGroups';
    const { groups } = await admin.describeGroups([groupId]);
    const g = groups[0];
    if (!g || g.errorCode !== 0 || g.members.length !== 1) {
      throw new Error(`unexpected group description ${JSON.stringify(g)}`);
    }
    step = 'admin.listGroups';
    const listed = await admin.listGroups();
    if (!listed.groups.some((x) => x.groupId === groupId)) throw new Error('group missing from listGroups');

    step = 'consumer.disconnect';
    await consumer.disconnect();
    step = 'admin.deleteGroups';
    await admin.deleteGroups([groupId]);
    step = 'admin.deleteTopics';
    await admin.deleteTopics({ topics: [topic], timeout: 15000 });
    topicCreated = false;
    return { partitionsUsed: new Set(seen.values()).size, state: g.state, protocol: g.protocol };
  };
  try {
    const r = await run();
    console.log(`kafkajs ${kafkajsVersion} ↔ Kafka ${version}: produce/consume/commit OK`);
    if (process.env.RW_INFRA_VERBOSE) {
      console.log(`  (${total} GZIP messages over ${r.partitionsUsed} partitions, group state ${r.state}, protocol ${r.protocol})`);
    }
    return 0;
  } catch (err) {
    console.error(`kafkajs ${kafkajsVersion} ↔ Kafka ${version}: FAILED at ${step}: ${describe(err)}`);
    for (const line of errors.slice(-10)) console.error(`  kafkajs log: ${line}`);
    return 1;
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    if (topicCreated) await admin.deleteTopics({ topics: [topic], timeout: 5000 }).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

let code = 1;
try {
  const args = parseArgs(process.argv.slice(2));
  if (args.mode === 'wait') code = await waitReady(args);
  else if (args.mode === 'check') code = await check(args);
  else throw new Error(`unknown mode ${args.mode} (wait | check)`);
} catch (err) {
  console.error(`kafka-check: ${describe(err)}`);
  code = 1;
}
process.exit(code);
