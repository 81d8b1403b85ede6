/**
 * No drift between the charts and the code: the args and env the charts give the analyzer and the
 * sidecar are parsed by the programs' own loaders (analyzer/config.ts, sidecar/config.ts), with
 * Secret, ConfigMap and downward-API values resolved to placeholders of the right shape; the files,
 * ports and Secret keys they name exist in the rendered objects; and every rendered policy passes
 * `ratewarden check`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { parseAnalyzerArgs } from '../../analyzer/config.js';
import { eventsTopic } from '../../models/events.js';
import { DEFAULT_MAX_CONNECTIONS, parseSidecarArgs } from '../../sidecar/config.js';
import { parse as parseYaml } from 'yaml';
import { parsePolicy } from '../../models/policy/index.js';
import { ROOT } from '../helpers/infra.js';
import {
  ANALYZER_VALUES,
  CHARTS,
  EXAMPLE_VALUES,
  find,
  findAll,
  podSpec,
  render,
  type Container,
  type K8sObject,
  type PodSpec,
} from './helm.js';

interface Rendered {
  readonly label: string;
  readonly values: string | null;
  readonly objects: K8sObject[];
}

const analyzerCases: Rendered[] = ANALYZER_VALUES.map((values) => ({
  label: values,
  values,
  objects: render(CHARTS.analyzer, { values: [values] }),
}));
const exampleCases: Rendered[] = [null, ...EXAMPLE_VALUES].map((values) => ({
  label: values ?? 'default values',
  values,
  objects: render(CHARTS.example, values ? { values: [values] } : {}),
}));

const POD_NAME = 'rw-ratewarden-7c9d5b6f4-x2x9z';

/** The container's env as the process would see it; Secret and ConfigMap values become placeholders. */
function resolveEnv(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      assert.equal(e.valueFrom.fieldRef.fieldPath, 'metadata.name', `${e.name}: unexpected fieldRef`);
      env[e.name] = POD_NAME;
    } else if (e.valueFrom?.secretKeyRef) env[e.name] = `placeholder-secret-${e.valueFrom.secretKeyRef.key.toLowerCase()}`;
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = `placeholder-config-${e.valueFrom.configMapKeyRef.key.toLowerCase()}`;
    else assert.fail(`${e.name}: neither value nor a known valueFrom`);
  }
  return env;
}

/** The volume and the key behind a file path the container reads. */
function fileSource(spec: PodSpec, c: Container, path: string): { volume: NonNullable<PodSpec['volumes']>[number]; key: string } {
  const mount = (c.volumeMounts ?? []).find((m) => path.startsWith(m.mountPath.replace(/\/?$/, '/')));
  assert.ok(mount, `${path} is under no volumeMount of ${c.name}`);
  assert.equal(mount.subPath, undefined, 'a subPath mount would never see ConfigMap updates');
  const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
  assert.ok(volume, `volumeMount ${mount.name} has no volume`);
  const relative = posix.relative(mount.mountPath, path);
  const items = volume.configMap?.items ?? volume.secret?.items;
  const item = items?.find((i) => i.path === relative);
  assert.ok(items === undefined || item, `volume ${volume.name} does not project ${relative}`);
  return { volume, key: item?.key ?? relative };
}

function port(c: Container, name: string): number {
  const p = (c.ports ?? []).find((x) => x.name === name);
  assert.ok(p, `${c.name} has no port ${name}`);
  return p.containerPort;
}

/** Every secretKeyRef names a Secret key that exists: in the rendered Secret, or in the configured existing one. */
function assertSecretRefs(objects: K8sObject[], c: Container, existingSecret: string | null): void {
  const secrets = findAll(objects, 'Secret') as Array<K8sObject & { data?: Record<string, string> }>;
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) continue;
    const rendered = secrets.find((s) => s.metadata.name === ref.name);
    if (rendered) {
      assert.ok(ref.key in (rendered.data ?? {}) || ref.optional === true, `${e.name}: Secret ${ref.name} has no key ${ref.key}`);
    } else {
      assert.equal(ref.name, existingSecret, `${e.name}: Secret ${ref.name} is neither rendered nor the configured existing Secret`);
    }
  }
}

function commandExists(name: string): boolean {
  const main = readFileSync(join(ROOT, 'cli', 'main.ts'), 'utf8');
  return new RegExp(`^\\s+'?${name}'?: \\{ summary`, 'm').test(main);
}

/** Env names the code reads (source text of the programs), so a misspelt name in a chart fails. */
const codeText = ['models/infra.ts', 'models/events.ts', 'models/clientKey.ts', 'sidecar/config.ts', 'analyzer/config.ts']
  .map((f) => readFileSync(join(ROOT, f), 'utf8'))
  .join('\n');

function valuesOf(file: string | null): Record<string, unknown> {
  return file ? (parseYaml(readFileSync(join(ROOT, 'test', 'helm', 'values', file), 'utf8')) as Record<string, unknown>) : {};
}
for (const c of analyzerCases) {
  test(`the analyzer's args and env (${c.label}) are accepted by parseAnalyzerArgs and name files, ports and keys that exist`, () => {
    const spec = podSpec(c.objects);
    const analyzer = spec.containers.find((x) => x.name === 'analyzer')!;
    assert.equal(analyzer.command, undefined, 'the image ENTRYPOINT (node dist/cli/main.js) must run');
    const [subcommand, ...argv] = analyzer.args ?? [];
    assert.equal(subcommand, 'analyzer');
    assert.ok(commandExists(subcommand!), `cli/main.ts has no command ${subcommand}`);
    const env = resolveEnv(analyzer);
    const config = parseAnalyzerArgs(argv, env);

    // the policy file is the ConfigMap's policy.yaml
    const policy = fileSource(spec, analyzer, config.configFile);
    assert.equal(policy.key, 'policy.yaml');
    const values = valuesOf(c.values) as { existingPolicyConfigMap?: string; secrets?: { existingSecret?: string; readonlyToken?: string; requireHashKey?: boolean } };
    const cmName = policy.volume.configMap?.name;
    if (values.existingPolicyConfigMap) assert.equal(cmName, values.existingPolicyConfigMap);
    else assert.ok((find(c.objects, 'ConfigMap', cmName) as K8sObject & { data: Record<string, string> }).data['policy.yaml']);

    // the listen port is the container port the Service, probes and NetworkPolicy use
    assert.equal(config.listen.host, '0.0.0.0');
    assert.equal(config.listen.port, port(analyzer, 'http'));
    const svc = find(c.objects, 'Service') as K8sObject & { spec: { ports: Array<{ targetPort: string | number }> } };
    assert.deepEqual(svc.spec.ports.map((p) => p.targetPort), ['http']);
    for (const probe of [analyzer.startupProbe, analyzer.livenessProbe, analyzer.readinessProbe]) assert.equal(probe?.httpGet?.port, 'http');
    // liveness on /healthz (a Redis outage is no reason to restart), readiness on /readyz (the API needs Redis)
    assert.equal(analyzer.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(analyzer.readinessProbe?.httpGet?.path, '/readyz');

    assert.equal(config.instance, POD_NAME);
    assert.ok(config.adminToken, 'RW_ADMIN_TOKEN is wired');
    if (values.secrets?.readonlyToken || values.secrets?.existingSecret) assert.ok(config.readonlyToken);
    if (config.redis?.caFile) assert.ok(fileSource(spec, analyzer, config.redis.caFile).volume.secret);
    if (config.kafka?.caFile) assert.ok(fileSource(spec, analyzer, config.kafka.caFile).volume.secret);
    const hashKey = analyzer.env?.find((e) => e.name === 'RW_HASH_KEY')?.valueFrom?.secretKeyRef;
    assert.ok(hashKey, 'RW_HASH_KEY is wired from the Secret');
    assert.equal(hashKey.optional, !values.secrets?.requireHashKey);
    assertSecretRefs(c.objects, analyzer, values.secrets?.existingSecret ?? null);
    for (const name of Object.keys(env)) assert.ok(codeText.includes(name), `${name} is read by no loader`);
  });
}

test('the analyzer loader sees the Redis Cluster, TLS and SASL settings the values ask for', () => {
  const cluster = parseAnalyzerArgs(...argsAndEnv(analyzerCases.find((c) => c.values === 'cluster-redis.yaml')!));
  assert.equal(cluster.redis?.clusterNodes?.length, 3);
  assert.equal(cluster.redis?.username, 'ratewarden');
  assert.ok(cluster.redis?.password);
  assert.equal(cluster.redis?.clusterTls, false);

  const tls = parseAnalyzerArgs(...argsAndEnv(analyzerCases.find((c) => c.values === 'tls.yaml')!));
  assert.equal(tls.redis?.clusterTls, true);
  assert.equal(tls.redis?.caFile, '/etc/ratewarden/tls/redis/ca.pem');
  assert.equal(tls.kafka?.ssl, true);
  assert.equal(tls.kafka?.caFile, '/etc/ratewarden/tls/kafka/ca.crt');
  assert.equal(tls.kafka?.sasl?.mechanism, 'plain');

  const prodArgs = argsAndEnv(analyzerCases.find((c) => c.values === 'production.yaml')!);
  const prod = parseAnalyzerArgs(...prodArgs);
  assert.equal(prod.redis?.url, 'rediss://redis.data.svc:6380');
  assert.deepEqual(prod.kafka?.brokers.length, 3);
  assert.equal(prod.kafka?.sasl?.mechanism, 'scram-sha-512');
  assert.equal(prod.groupId, 'ratewarden-analyzer-prod');
  assert.equal(eventsTopic(prodArgs[1]), 'ratewarden.events');
});

function argsAndEnv(c: Rendered, name = 'analyzer'): [string[], Record<string, string>] {
  const ctr = podSpec(c.objects).containers.find((x) => x.name === name)!;
  return [(ctr.args ?? []).slice(1), resolveEnv(ctr)];
}

for (const c of exampleCases.filter((x) => x.values !== 'service-disabled.yaml')) {
  test(`the injected sidecar's args and env (${c.label}) are accepted by parseSidecarArgs and match the pod's ports, files and Service`, () => {
    const spec = podSpec(c.objects);
    const sidecar = spec.containers.find((x) => x.name === 'ratewarden')!;
    const app = spec.containers.find((x) => x.name === 'app')!;
    assert.equal(sidecar.command, undefined);
    const [subcommand, ...argv] = sidecar.args ?? [];
    assert.equal(subcommand, 'sidecar');
    assert.ok(commandExists(subcommand!));
    const env = resolveEnv(sidecar);
    const config = parseSidecarArgs(argv, env);

    // upstream is the application's port on loopback
    assert.equal(config.upstream.hostname, '127.0.0.1');
    assert.equal(Number(config.upstream.port), port(app, 'app'));
    // the Service targets the proxy port; the admin port serves the probes and is on no Service
    assert.equal(config.listen.port, port(sidecar, 'rw-proxy'));
    assert.equal(config.admin.port, port(sidecar, 'rw-admin'));
    assert.equal(config.admin.host, '0.0.0.0', 'kubelet probes come from the node, not loopback');
    for (const probe of [sidecar.startupProbe, sidecar.livenessProbe, sidecar.readinessProbe]) assert.equal(probe?.httpGet?.port, 'rw-admin');
    const svc = find(c.objects, 'Service') as K8sObject & { spec: { ports: Array<{ targetPort: string | number }> } };
    assert.deepEqual(svc.spec.ports.map((p) => p.targetPort), ['rw-proxy']);

    assert.equal(config.pod, POD_NAME);
    const policy = fileSource(spec, sidecar, config.configFile);
    assert.ok(policy.volume.configMap);
    if (config.redis?.caFile) assert.ok(fileSource(spec, sidecar, config.redis.caFile).volume.secret);
    if (config.kafka?.caFile) assert.ok(fileSource(spec, sidecar, config.kafka.caFile).volume.secret);

    // the JWT secret the policy names is in the env
    const cm = findAll(c.objects, 'ConfigMap').find((o) => o.metadata.name === policy.volume.configMap!.name) as (K8sObject & { data: Record<string, string> }) | undefined;
    if (cm) {
      const parsed = parsePolicy(cm.data[policy.key]!);
      assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
      const secretEnv = parsed.policy.identity.jwt?.secretEnv;
      if (secretEnv) assert.ok(env[secretEnv], `the policy reads ${secretEnv}, which the sidecar does not get`);
      if (parsed.policy.store.kind === 'redis') assert.ok(config.redis, 'store.kind redis without Redis settings would not start');
    }
    const values = valuesOf(c.values) as { ratewarden?: { secrets?: { existingSecret?: string; jwtSecretEnv?: string } } };
    assertSecretRefs(c.objects, sidecar, values.ratewarden?.secrets?.existingSecret ?? null);
    const jwtEnv = values.ratewarden?.secrets?.jwtSecretEnv;
    for (const name of Object.keys(env)) {
      if (name === jwtEnv || name === 'NODE_OPTIONS' || (cm && /JWT_SECRET$/.test(name))) continue;
      assert.ok(codeText.includes(name), `${name} is read by no loader`);
    }
  });
}

test('the sidecar loader sees the TLS Redis Cluster, Kafka topic and service name the example values ask for', () => {
  const tls = parseSidecarArgs(...argsAndEnv(exampleCases.find((c) => c.values === 'service-cluster-tls.yaml')!, 'ratewarden'));
  assert.equal(tls.listen.port, 8081);
  assert.equal(tls.admin.port, 9191);
  assert.equal(tls.configFile, '/etc/ratewarden/policy/checkout.yaml');
  assert.equal(tls.redis?.clusterTls, true);
  assert.equal(tls.redis?.caFile, '/etc/ratewarden/tls/redis/ca.pem');
  assert.equal(tls.eventsTopic, 'checkout.events');
  assert.equal(tls.service, 'rw-example-service');

  const prod = parseSidecarArgs(...argsAndEnv(exampleCases.find((c) => c.values === 'service-production.yaml')!, 'ratewarden'));
  assert.equal(prod.service, 'checkout');
  assert.equal(prod.drainSeconds, 15);
  // the chart keeps serving (not ready) for 5 s after SIGTERM before the drain
  assert.equal(prod.shutdownDelaySeconds, 5);
  assert.equal(prod.maxConnections, 20_000);
  // the chart's default is the sidecar's
  assert.equal(tls.maxConnections, DEFAULT_MAX_CONNECTIONS);
  assert.equal(prod.kafka?.sasl?.mechanism, 'scram-sha-512');
  assert.equal(prod.kafka?.ssl, true);
});

// --- every rendered policy passes `ratewarden check` ---------------------------------------------

const work = mkdtempSync(join(tmpdir(), 'rw-helm-policy-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface PolicyCase {
  readonly label: string;
  readonly file: string;
}
const policyCases: PolicyCase[] = [];
for (const [chart, cases] of [['analyzer', analyzerCases], ['example service', exampleCases]] as const) {
  for (const c of cases) {
    // the ConfigMap the pod mounts as its policy (other ConfigMaps, e.g. dashboards, are not policies)
    const policyVolume = podSpec(c.objects).volumes?.find((v) => v.name === 'rw-policy')?.configMap;
    const cm = findAll(c.objects, 'ConfigMap').find((o) => o.metadata.name === policyVolume?.name) as (K8sObject & { data: Record<string, string> }) | undefined;
    if (!cm || !policyVolume) continue;
    for (const { key } of policyVolume.items ?? [{ key: 'policy.yaml' }]) {
      const file = join(work, `${policyCases.length}-${key}`);
      writeFileSync(file, cm.data[key] ?? '');
      policyCases.push({ label: `the ${chart} chart's ${cm.metadata.name} (${c.label})`, file });
    }
  }
}

function check(file: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'check', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// two at a time: the machine has two cores
const results = new Map<string, { code: number | null; output: string }>();
before(async () => {
  const queue = [...policyCases];
  await Promise.all(
    [0, 1].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) results.set(next.file, await check(next.file));
    }),
  );
});

test('the charts render a policy ConfigMap for each policy given in values', () => {
  // the analyzer chart's default values are not installable (no Kafka, no Redis): minimal.yaml carries its default policy
  assert.ok(policyCases.length >= 6, `only ${policyCases.length} policies rendered`);
});

for (const p of policyCases) {
  test(`${p.label} passes ratewarden check`, () => {
    const r = results.get(p.file)!;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /: ok \(/);
  });
}
