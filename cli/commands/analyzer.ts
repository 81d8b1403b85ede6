/**
 * `ratewarden analyzer --config F [--listen H:P]`: the analyzer with its operator API and UI.
 * `ratewarden analyzer --train --out DIR [...]`: trains the learned model and exits.
 *
 * Production needs both Kafka (KAFKA_BROKERS: the call events it consumes) and Redis (REDIS_URL or
 * REDIS_CLUSTER_NODES: the control plane it writes actions to, and the report store). Without
 * either it refuses to start (exit 2) and says so; `ratewarden demo` runs everything in one process
 * without them.
 */
import { join } from 'node:path';
import { hostname } from 'node:os';
import { ANALYZER_USAGE, isTrainInvocation, parseAnalyzerArgs, parseAnalyzerTrainArgs } from '../../analyzer/config.js';
import { ErrorCodes, RatewardenError } from '../../models/errors.js';
import { eventsTopic } from '../../models/events.js';
import { loadPolicyFile, formatPolicyErrors } from '../../models/policy/index.js';

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${ANALYZER_USAGE}\n`);
    return 0;
  }
  if (isTrainInvocation(argv)) return train(argv);
  const config = parseAnalyzerArgs(argv);
  const missing: string[] = [];
  if (!config.kafka) missing.push('KAFKA_BROKERS (host:port,… — the analyzer consumes call events from Kafka)');
  if (!config.redis) missing.push('REDIS_URL or REDIS_CLUSTER_NODES (the control plane it writes blocks/overrides to, and the anomaly report store)');
  if (missing.length > 0) {
    throw new RatewardenError(ErrorCodes.CONFIG_STORE, `the analyzer needs Kafka and Redis; missing ${missing.join(' and ')}. For a single-process try-out without them run \`ratewarden demo\`.`);
  }
  const loaded = loadPolicyFile(config.configFile);
  if (!loaded.ok) {
    process.stderr.write(formatPolicyErrors(loaded.errors, config.configFile) + '\n');
    return 2;
  }
  const policy = loaded.policy;

  const [{ createKafka, createRedisClient, redisEnvNote, redisStartupProblem }, { controlKeys }, { RedisControlPlane }, { startAnalyzer }, { KafkaEventSource }, { RedisReportStore }, { KafkaReportPublisher }, api] = await Promise.all([
    import('../../models/infra.js'),
    import('../../models/control.js'),
    import('../../models/controlPlane.js'),
    import('../../analyzer/server.js'),
    import('../../analyzer/ingest/kafkaEventSource.js'),
    import('../../analyzer/reports/redisStore.js'),
    import('../../analyzer/reports/publisher.js'),
    import('../../analyzer/api/index.js'),
  ]);
  const { loadControl } = await import('../../analyzer/load/index.js');
  const { RedisStateStore } = await import('../../analyzer/state/redisStateStore.js');

  const redisNote = redisEnvNote(process.env);
  if (redisNote) process.stderr.write(`ratewarden analyzer: ${redisNote}\n`);
  // a wrong password or an untrusted certificate is a misconfiguration, not an outage: say so and stop
  const redisProblem = await redisStartupProblem(config.redis!);
  if (redisProblem) {
    process.stderr.write(`ratewarden analyzer: ${redisProblem} (check REDIS_URL / REDIS_PASSWORD / REDIS_TLS_CA_FILE); not starting\n`);
    return 2;
  }
  const redis = createRedisClient(config.redis!, { name: 'ratewarden-analyzer', commandTimeoutMs: 5_000 });
  redis.on('error', () => undefined); // ioredis reconnects; failed writes are counted where they happen
  // Everything created from here on is closed on the way out — also when the start fails (a port in
  // use, a model that does not load): a reconnecting Redis client or a Kafka client left open would
  // keep the process alive after the error. Closed last-created first.
  const closers: Array<() => unknown> = [() => redis.disconnect()];
  let running: Awaited<ReturnType<typeof startAnalyzer>> | null = null;
  try {
    const kafka = createKafka(config.kafka!, `ratewarden-analyzer-${config.instance}`);
    const controlPlane = new RedisControlPlane(redis, controlKeys(config.ctlPrefix));
    closers.push(() => controlPlane.close());
    const reports = new RedisReportStore(redis, { prefix: config.reportsPrefix, retentionMs: policy.analyzer.retentionMs });
    const source = new KafkaEventSource({
      kafka,
      topic: eventsTopic(process.env, policy.events.topic),
      groupId: config.groupId,
      fromBeginning: config.fromBeginning,
      onRevoked: async (partitions) => {
        await running?.state.analyzer.revoke(partitions);
      },
      onLag: (lag) => running?.state.metrics.consumerLag.set(lag),
      onError: (err) => running?.app.log.error({ err: err.message }, 'kafka consumer error'),
      // commit only what has been scored: a crash leaves its open windows to be read again
      scoredUntil: (partition) => running?.state.analyzer.scoredUntil(partition) ?? Number.NEGATIVE_INFINITY,
    });
    closers.push(() => source.stop());
    // learned state in Redis per consumer group: a restart or rebalance resumes from it (RW_STATE_SNAPSHOT_EVERY=off: none)
    const stateStore = config.snapshotEveryMs === null ? null : new RedisStateStore(redis, { prefix: config.statePrefix, group: config.groupId, ttlMs: config.stateTtlMs });
    const publisher = new KafkaReportPublisher(kafka, { onError: (err) => running?.app.log.warn({ err: err.message }, 'publishing anomaly reports failed; retrying') });
    closers.push(() => publisher.close());
    const loadHistory = new api.LoadHistory();
    closers.push(() => loadHistory.close());
    await loadHistory.follow(controlPlane).catch(() => undefined);
    // automatic tightening under backend load (policy analyzer.load): sees every batch, writes rw:ctl:load
    const load = loadControl();
    closers.push(() => load.loop()?.stop());

    running = await startAnalyzer({
      policy,
      source: load.tap(source),
      controlPlane,
      reports,
      publisher,
      listen: config.listen,
      model: config.model === 'none' ? null : config.model,
      retrain: config.retrainEveryMs ? { everyMs: config.retrainEveryMs, outDir: config.modelOut, keep: config.retrainKeep } : null,
      instance: config.instance || hostname(),
      state: stateStore ? { store: stateStore, snapshotEveryMs: config.snapshotEveryMs! } : null,
      dependencies: () => ({ redis: redis.status === 'ready' }),
      plugins: [
        load.plugin,
        async (app, state) => {
          const backend = api.operatorBackendFor(state.analyzer, { reports, plane: controlPlane, cooldownMs: () => state.policy().analyzer.cooldownMs, loadHistory, ipv6Prefix: () => state.policy().identity.ipv6Prefix, publisher: state.publisher });
          await app.register(api.operatorPlugin, { backend, adminToken: config.adminToken, readonlyToken: config.readonlyToken });
        },
      ],
    });
    const started = running;
    // the commit gate's drops (windows held back past its bound) are counted on /metrics
    started.state.metrics.watchIngest(source);
    // stops the consumer, the publisher and the load loop, and writes the last state snapshot
    closers.push(() => started.close());
    started.app.log.info({ address: started.address, topic: eventsTopic(process.env, policy.events.topic), group: config.groupId, ctlPrefix: config.ctlPrefix, api: config.adminToken ? 'enabled' : 'disabled (RW_ADMIN_TOKEN unset)' }, 'analyzer started');

    // SIGHUP reloads the policy file; a bad file keeps the last good policy
    const reload = (): void => {
      const next = loadPolicyFile(config.configFile);
      if (next.ok) {
        started.state.analyzer.setPolicy(next.policy);
        load.loop()?.setPolicy(next.policy);
        started.app.log.info({ file: config.configFile }, 'policy reloaded');
      } else started.app.log.error({ file: config.configFile, errors: formatPolicyErrors(next.errors, config.configFile) }, 'policy reload failed; keeping the last good policy');
    };
    process.on('SIGHUP', reload);
    closers.push(() => process.off('SIGHUP', reload));
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return 0;
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // closing what is left; the first error (if any) is the one reported
      }
    }
  }
}

async function train(argv: string[]): Promise<number> {
  const t = parseAnalyzerTrainArgs(argv);
  const { trainArtifact } = await import('../../models/ml/train.js');
  const source = t.source === 'simulator' || t.source === 'generator' ? { generator: t.source as 'simulator' | 'generator' } : { vectorsFile: t.source };
  const metadata = await trainArtifact({
    outDir: t.outDir,
    version: t.version ?? (t.outDir.split(/[\\/]/).filter(Boolean).pop() || 'autoencoder'),
    ...source,
    ...(t.clients ? { clients: t.clients } : {}),
    ...(t.minutes ? { minutes: t.minutes } : {}),
    ...(t.seed ? { seed: t.seed } : {}),
    ...(t.epochs ? { epochs: t.epochs } : {}),
    log: (line) => process.stderr.write(line + '\n'),
  });
  process.stdout.write(`${join(t.outDir, 'metadata.json')}: ${metadata.version}, ${metadata.training.rows} rows, q99 ${metadata.errorQuantiles.q99}, q999 ${metadata.errorQuantiles.q999}\n`);
  return 0;
}
