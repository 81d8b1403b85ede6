/**
 * `ratewarden demo` (what `npm start` runs): everything in one process on embedded defaults — a demo
 * upstream (or RW_UPSTREAM), a sidecar on :8080, the analyzer with its operator API and UI on :9090,
 * an in-memory rate store, control plane and event bus, and live simulated traffic: normal clients
 * and, 20 s in, an attacker. Within a minute the analyzer reports the attacker, blocks it, and the
 * sidecar answers it 403 — visible in the UI at the printed login URL.
 *
 * With REDIS_URL / REDIS_CLUSTER_NODES the store, control plane and reports use that Redis; with
 * KAFKA_BROKERS the events travel through Kafka. The programs are the same ones `ratewarden sidecar`
 * and `ratewarden analyzer` run; only what connects them differs.
 */
import { parseArgs } from 'node:util';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ErrorCodes, RatewardenError } from '../../models/errors.js';
import { formatPolicyErrors, parsePolicy, policyFileError, readPolicyFileSync, type Policy } from '../../models/policy/index.js';
import { controlKeys } from '../../models/control.js';
import { MemoryControlPlane, RedisControlPlane, type ControlPlane } from '../../models/controlPlane.js';
import { MemoryEventBus, type EventSource } from '../../models/eventBus.js';
import { eventsTopic } from '../../models/events.js';
import { createKafka, createRedisClient, kafkaConnectionFromEnv, logLevelFromEnv, parseListen, redisConnectionFromEnv, type RedisClient } from '../../models/infra.js';
import { parseUpstream } from '../../sidecar/config.js';
import type { ScenarioSpec } from '../../simulator/scenarios.js';

// cli/commands/ in the source tree, dist/cli/commands/ once built
const HERE = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PACKAGE_ROOT = basename(HERE) === 'dist' ? dirname(HERE) : HERE;

export const DEMO_USAGE = `usage: ratewarden demo [--config FILE] [--listen H:P] [--ui H:P] [--admin H:P] [--no-traffic] [--seed S]
  --config      policy (default examples/demo-policy.yaml)
  --listen      sidecar (default 127.0.0.1:8080)
  --ui          analyzer: operator API and UI (default 127.0.0.1:9090)
  --admin       sidecar admin: /metrics /healthz /readyz (default 127.0.0.1:9091)
  --no-traffic  no simulated clients (send your own requests)
env: RW_UPSTREAM (your upstream instead of the demo one), REDIS_URL / REDIS_CLUSTER_NODES (RW_CTL_PREFIX, RW_REPORTS_PREFIX), KAFKA_BROKERS, RW_ADMIN_TOKEN`;

/** The demo's attacker: one client bursting to ~60 req/s from 20 s in, far past its own history and its peers. */
export const DEMO_ATTACKS: readonly ScenarioSpec[] = [{ name: 'volumetric-burst', at: '20s', duration: '10m', intensity: 1.5 }];

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        ui: { type: 'string' },
        admin: { type: 'string' },
        'no-traffic': { type: 'boolean' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new RatewardenError(ErrorCodes.CONFIG_ARG, `${(err as Error).message}\n${DEMO_USAGE}`);
  }
  if (values.help) {
    process.stdout.write(DEMO_USAGE + '\n');
    return 0;
  }
  const env = process.env;
  const listen = parseListen(values.listen ?? '127.0.0.1:8080', '--listen', '127.0.0.1');
  const uiListen = parseListen(values.ui ?? '127.0.0.1:9090', '--ui', '127.0.0.1');
  const adminListen = parseListen(values.admin ?? '127.0.0.1:9091', '--admin', '127.0.0.1');
  // refused here, before anything starts (they were a stack trace once the analyzer was up)
  if (env.RW_UPSTREAM) parseUpstream(env.RW_UPSTREAM, 'RW_UPSTREAM');
  // as the analyzer reads them: a token ending in a newline (a file-made Secret) locked every client out
  const { bearerTokenFromEnv } = await import('../../analyzer/config.js');
  const givenAdminToken = bearerTokenFromEnv(env.RW_ADMIN_TOKEN, 'RW_ADMIN_TOKEN');
  const readonlyToken = bearerTokenFromEnv(env.RW_READONLY_TOKEN, 'RW_READONLY_TOKEN');
  logLevelFromEnv(env);
  const redisConn = redisConnectionFromEnv(env);
  const kafkaConn = kafkaConnectionFromEnv(env);
  const configFile = resolve(values.config ?? join(PACKAGE_ROOT, 'examples', 'demo-policy.yaml'));
  const { policy, text, rewrite } = loadDemoPolicy(configFile, redisConn !== null, env.RW_HASH_KEY);

  const [{ startSidecar }, { startAnalyzer }, api, { MemoryReportStore }, { RedisReportStore }, { startStubUpstream }, { startLiveTraffic }] = await Promise.all([
    import('../../sidecar/server.js'),
    import('../../analyzer/server.js'),
    import('../../analyzer/api/index.js'),
    import('../../analyzer/reports/memoryStore.js'),
    import('../../analyzer/reports/redisStore.js'),
    import('../../simulator/stub-upstream.js'),
    import('../../simulator/live.js'),
  ]);
  const { loadControl } = await import('../../analyzer/load/index.js');

  const closers: Array<() => Promise<unknown>> = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };

  try {
    // the parts that connect the programs: memory, or the real Redis / Kafka when configured
    let redis: RedisClient | null = null;
    let controlPlane: ControlPlane;
    let reports: InstanceType<typeof MemoryReportStore> | InstanceType<typeof RedisReportStore>;
    if (redisConn) {
      redis = createRedisClient(redisConn, { name: 'ratewarden-demo', commandTimeoutMs: 5_000 });
      redis.on('error', () => undefined);
      const r = redis;
      closers.push(async () => r.disconnect());
      controlPlane = new RedisControlPlane(redis, controlKeys(env.RW_CTL_PREFIX || 'rw:ctl'));
      // the analyzer's RW_REPORTS_PREFIX, so a demo and an analyzer (or two demos) on one Redis keep their reports apart
      reports = new RedisReportStore(redis, { prefix: env.RW_REPORTS_PREFIX || 'rw:anomalies', retentionMs: policy.analyzer.retentionMs });
    } else {
      controlPlane = new MemoryControlPlane();
      reports = new MemoryReportStore();
    }
    const plane = controlPlane;
    closers.push(() => plane.close());

    const bus = kafkaConn ? null : new MemoryEventBus(policy.events.bufferSize);
    let source: EventSource;
    if (kafkaConn) {
      const { KafkaEventSource } = await import('../../analyzer/ingest/kafkaEventSource.js');
      source = new KafkaEventSource({ kafka: createKafka(kafkaConn, 'ratewarden-demo-analyzer'), topic: eventsTopic(env, policy.events.topic), groupId: env.RW_GROUP_ID || 'ratewarden-demo' });
    } else source = bus!;

    // upstream
    let upstreamUrl = env.RW_UPSTREAM ?? '';
    if (!upstreamUrl) {
      const stub = await startStubUpstream({ host: '127.0.0.1', routeLatency: 1, seed: 'demo-upstream' });
      closers.push(() => stub.close());
      upstreamUrl = stub.url;
    }

    // analyzer + operator API and UI
    const adminToken = givenAdminToken ?? api.generateToken();
    const loadHistory = new api.LoadHistory();
    await loadHistory.follow(controlPlane).catch(() => undefined);
    closers.push(() => loadHistory.close());
    const load = loadControl(); // automatic tightening under backend load (policy analyzer.load)
    const analyzer = await startAnalyzer({
      policy,
      source: load.tap(source),
      controlPlane,
      reports,
      listen: uiListen,
      model: 'shipped',
      instance: 'demo',
      // a production analyzer learns for 10 minutes before it reports; the demo's traffic is flat
      // and its attacker starts 20 s in, so 15 s of learning is enough to show the whole loop
      detection: { warmupMs: 15_000 },
      logger: false,
      plugins: [
        load.plugin,
        async (app, state) => {
          const backend = api.operatorBackendFor(state.analyzer, { reports, plane: controlPlane, cooldownMs: () => state.policy().analyzer.cooldownMs, loadHistory, ipv6Prefix: () => state.policy().identity.ipv6Prefix, publisher: state.publisher });
          await app.register(api.operatorPlugin, { backend, adminToken, readonlyToken });
        },
      ],
    });
    closers.push(() => analyzer.close());

    // sidecar
    const sidecar = await startSidecar({
      policy,
      policyFile: configFile,
      policyText: text,
      policyRewrite: rewrite,
      // one policy file for both programs: the analyzer (allowlist, actions, load) follows its reloads
      onPolicy: (next) => {
        void analyzer.state.analyzer.setPolicy(next);
        load.loop()?.setPolicy(next);
      },
      upstream: upstreamUrl,
      listen,
      admin: adminListen,
      pod: env.RW_POD ?? 'demo-pod',
      service: env.RW_SERVICE ?? 'demo',
      redis: redisConn,
      kafka: kafkaConn,
      eventsTopic: kafkaConn ? eventsTopic(env, policy.events.topic) : null,
      eventSink: bus,
      controlPlane,
      drainSeconds: 2,
    });
    closers.push(() => sidecar.close());

    // traffic
    let traffic: ReturnType<typeof startLiveTraffic> | null = null;
    if (!values['no-traffic']) {
      traffic = startLiveTraffic({
        baseUrl: sidecar.address,
        seed: values.seed ?? 'demo',
        attacks: DEMO_ATTACKS,
        ...(env.RW_HASH_KEY ? { hashKey: env.RW_HASH_KEY } : {}) });
      const t = traffic;
      closers.push(() => t.stop());
    }

    const uiBase = analyzer.address ?? `http://${uiListen.host}:${uiListen.port}`;
    const out = process.stdout;
    out.write(
      [
        '',
        'ratewarden demo',
        `  sidecar    ${sidecar.address}   → upstream ${upstreamUrl}${env.RW_UPSTREAM ? '' : ' (demo upstream)'}`,
        `  admin      ${sidecar.adminAddress ?? '-'}/metrics`,
        `  analyzer   ${uiBase}`,
        `  UI login   ${api.loginUrl(uiBase, adminToken)}`,
        `  store ${policy.store.kind}, control plane ${redisConn ? 'Redis' : 'in-memory'}, events ${kafkaConn ? 'Kafka' : 'in-process'}`,
        traffic ? `  traffic    40 simulated clients at 20 req/s; an attacker starts a volumetric burst 20 s from now` : '  traffic    none (--no-traffic)',
        `  try        curl -i ${sidecar.address}/api/items/2 -H 'x-api-key: my-key'`,
        '',
      ].join('\n') + '\n',
    );

    // print each report when it appears and whenever its action or status changes (tighten → block)
    const seenReports = new Map<string, string>();
    const status = setInterval(() => {
      void (async () => {
        const page = await reports.list({ limit: 20 }).catch(() => null);
        for (const r of [...(page?.items ?? [])].reverse()) {
          const shown = `${r.action.kind}${r.action.applied ? ' (applied)' : ''} ${r.status}`;
          if (seenReports.get(r.id) === shown) continue;
          seenReports.set(r.id, shown);
          out.write(`anomaly  ${r.id}  ${r.client}  score ${r.score.toFixed(2)}  ${shown}  ${r.summary}\n`);
        }
        if (traffic) {
          const s = traffic.stats();
          const by = Object.entries(s.byStatus ?? {})
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([code, n]) => `${code}:${n}`)
            .join(' ');
          out.write(`traffic  sent ${s.sent}  ${by}\n`);
        }
      })();
    }, 10_000);
    status.unref();
    closers.push(async () => clearInterval(status));

    await new Promise<void>((resolveStop) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolveStop();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    out.write('stopping…\n');
  } finally {
    await closeAll();
  }
  return 0;
}

/**
 * The demo policy, with `store.kind: redis` when a Redis is configured (the demo then uses it for
 * everything); a user's own policy file is taken as it is.
 */
function loadDemoPolicy(file: string, haveRedis: boolean, hashKey: string | undefined): { policy: Policy; text: string; rewrite: ((text: string) => string) | undefined } {
  // at most the cap + 1 bytes, from a regular file only (a FIFO or /dev/zero is refused, not read)
  const read = readPolicyFileSync(file);
  if (read.kind === 'unreadable') throw new RatewardenError(ErrorCodes.POLICY_FILE, read.message);
  if (read.kind === 'too-large') throw new RatewardenError(ErrorCodes.POLICY_FILE, `${file} is not a valid policy:\n${formatPolicyErrors([policyFileError(read)], file)}`);
  // the same rewrite runs on every reload of the file, so the watcher does not take the file's own
  // `store: memory` for a change (it reloaded 10 s after start, warning that the store cannot change)
  const rewrite = haveRedis && file.endsWith(join('examples', 'demo-policy.yaml')) ? withRedisStore : undefined;
  const text = rewrite ? rewrite(read.text) : read.text;
  const parsed = parsePolicy(text, { hashKey });
  if (!parsed.ok) throw new RatewardenError(ErrorCodes.POLICY_FILE, `${file} is not a valid policy:\n${formatPolicyErrors(parsed.errors, file)}`);
  return { policy: parsed.policy, text, rewrite };
}

/** The demo policy's text with `store.kind: redis`; text that is not a YAML mapping is left for parsePolicy to refuse. */
function withRedisStore(text: string): string {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return text;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return text;
  const d = doc as { store?: unknown };
  d.store = { ...(d.store !== null && typeof d.store === 'object' ? d.store : {}), kind: 'redis' };
  return stringifyYaml(d);
}
