/**
 * `ratewarden sidecar --config F --upstream URL [--listen H:P] [--admin H:P]` — the program that
 * runs in every pod. Start-up problems (bad flags, a policy with errors, store.kind redis without
 * REDIS_URL/REDIS_CLUSTER_NODES, a JWT secret variable that is not set) exit 2 with a clear message
 * before anything listens. Once listening it prints one JSON `ready` line with both addresses and
 * runs until SIGTERM/SIGINT, then drains (a second signal exits at once).
 */
import { ErrorCodes, RatewardenError } from '../../models/errors.js';
import { redisEnvNote, redisStartupProblem, redisTarget } from '../../models/infra.js';
import { formatPolicyErrors, parsePolicy, policyFileError, readPolicyFileSync, type PolicyError } from '../../models/policy/index.js';
import { parseSidecarArgs, SIDECAR_USAGE } from '../../sidecar/config.js';
import { createLogger } from '../../sidecar/log.js';
import { startSidecar } from '../../sidecar/server.js';

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${SIDECAR_USAGE}\n`);
    return 0;
  }
  const config = parseSidecarArgs(argv, env);
  const refuse = (errors: readonly PolicyError[]): number => {
    process.stderr.write(formatPolicyErrors(errors, config.configFile) + '\n');
    process.stderr.write(`ratewarden sidecar: ${config.configFile} has ${errors.length} error${errors.length === 1 ? '' : 's'}; not starting\n`);
    return 2;
  };
  // at most the cap + 1 bytes, from a regular file only (a FIFO or /dev/zero is refused, not read)
  const read = readPolicyFileSync(config.configFile);
  if (read.kind === 'unreadable') {
    process.stderr.write(`ratewarden sidecar: ${read.message}\n`);
    return 2;
  }
  if (read.kind === 'too-large') return refuse([policyFileError(read)]);
  const text = read.text;
  const parsed = parsePolicy(text, { hashKey: env.RW_HASH_KEY || undefined });
  if (!parsed.ok) return refuse(parsed.errors);
  const policy = parsed.policy;
  if (policy.store.kind === 'redis' && !config.redis) {
    throw new RatewardenError(ErrorCodes.CONFIG_STORE, `${config.configFile}: store.kind is redis, but neither REDIS_URL nor REDIS_CLUSTER_NODES is set`);
  }
  // a wrong password or an untrusted certificate is a misconfiguration, not an outage: say so and stop
  const redisProblem = config.redis ? await redisStartupProblem(config.redis) : null;
  if (redisProblem) {
    process.stderr.write(`ratewarden sidecar: ${redisProblem} (check REDIS_URL / REDIS_PASSWORD / REDIS_TLS_CA_FILE); not starting\n`);
    return 2;
  }

  const logger = createLogger({ level: config.logLevel });
  for (const w of parsed.warnings) logger.warn({ file: config.configFile }, `policy warning: ${w}`);
  const redisNote = redisEnvNote(env);
  if (redisNote) logger.warn(redisNote);
  const sidecar = await startSidecar({
    policy,
    policyFile: config.configFile,
    policyText: text,
    upstream: config.upstream,
    listen: config.listen,
    admin: config.admin,
    pod: config.pod,
    service: config.service,
    redis: config.redis,
    kafka: config.kafka,
    eventsTopic: env.RW_EVENTS_TOPIC || null,
    ctlPrefix: config.ctlPrefix,
    drainSeconds: config.drainSeconds,
    maxConnections: config.maxConnections,
    logger,
    env,
  });
  logger.info(
    {
      listen: sidecar.address,
      admin: sidecar.adminAddress,
      upstream: config.upstream.origin,
      pod: config.pod,
      service: config.service,
      store: `${policy.store.kind}/${policy.store.failMode}`,
      redis: redisTarget(config.redis),
      rules: policy.rules.length,
      pid: process.pid,
    },
    'ready',
  );

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.once('SIGTERM', () => process.exit(1));
      process.once('SIGINT', () => process.exit(1));
      sidecar.unready();
      if (config.shutdownDelaySeconds > 0) {
        // not ready any more, but still serving while the endpoints controller takes the pod out
        logger.info({ signal, shutdownDelaySeconds: config.shutdownDelaySeconds, drainSeconds: config.drainSeconds }, 'not ready; serving until the shutdown delay ends, then draining');
        setTimeout(resolve, config.shutdownDelaySeconds * 1000);
      } else {
        logger.info({ signal, drainSeconds: config.drainSeconds }, 'draining');
        resolve();
      }
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  if (config.shutdownDelaySeconds > 0) logger.info({ drainSeconds: config.drainSeconds }, 'draining');
  await sidecar.close();
  logger.info('stopped');
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  return 0;
}
