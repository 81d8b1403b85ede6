/**
 * Sidecar injection through the ratewarden-sidecar library chart: the example service chart and the
 * minimal chart of helm/README.md render a pod with the sidecar in front of the application, a
 * Service aimed at the sidecar, and a NetworkPolicy that leaves no way around it; turning the
 * sidecar off gives the plain service back. Also: the README documents every value both charts have.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseSidecarArgs } from '../../sidecar/config.js';
import { ROOT } from '../helpers/infra.js';
import { CHARTS, container, find, findAll, helm, lint, podSpec, render, renderError, type Container, type K8sObject, type Workload } from './helm.js';
import { validateObjects } from './k8sValidate.js';
import { EXAMPLE_SCHEMA_FILE, expectedSchemaFiles, SIDECAR_SCHEMA_FILE, sidecarRules } from './sidecarSchema.js';

const work = mkdtempSync(join(tmpdir(), 'rw-helm-inject-'));
after(() => rmSync(work, { recursive: true, force: true }));

const README = readFileSync(join(ROOT, 'helm', 'README.md'), 'utf8');

interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    ingress: Array<{ ports: Array<{ port: number }>; from?: unknown[] }>;
  };
}

function envNames(c: Container): string[] {
  return (c.env ?? []).map((e) => e.name);
}

/** A scratch chart with the library under charts/ and the given files. */
function scratchChart(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  cpSync(CHARTS.sidecar, join(dir, 'charts', 'ratewarden-sidecar'), { recursive: true, dereference: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

// --- the example service chart -----------------------------------------------------------------

test('the sidecar is injected next to the application with its policy, /tmp and nothing else changed in the pod', () => {
  const objects = render(CHARTS.example);
  const spec = podSpec(objects);
  assert.deepEqual(spec.containers.map((c) => c.name), ['app', 'ratewarden']);
  assert.deepEqual(spec.volumes?.map((v) => v.name), ['rw-policy', 'rw-tmp']);
  assert.equal(spec.volumes?.[0]?.configMap?.name, 'rw-example-service-ratewarden-policy');
  assert.ok(find(objects, 'ConfigMap', 'rw-example-service-ratewarden-policy'));
  const app = container(objects, 'app');
  assert.deepEqual(app.args, ['-listen=127.0.0.1:5678', '-text=hello from example-service'], 'the application binds loopback behind the sidecar');
  assert.equal(find<Workload>(objects, 'Deployment').spec.template.metadata.annotations?.['ratewarden.io/sidecar'], 'injected');
});

test('the Service sends traffic to the sidecar port, never to the application or the admin port', () => {
  const svc = find(render(CHARTS.example), 'Service') as K8sObject & { spec: { ports: Array<{ port: number; targetPort: string }> } };
  assert.deepEqual(svc.spec.ports.map((p) => [p.port, p.targetPort]), [[80, 'rw-proxy']]);
});

test('the NetworkPolicy opens only the proxy port by default, so no pod can reach the application port directly', () => {
  const np = find<NetworkPolicy>(render(CHARTS.example), 'NetworkPolicy');
  assert.deepEqual(np.spec.podSelector.matchLabels, find<Workload>(render(CHARTS.example), 'Deployment').spec.template.metadata.labels);
  assert.deepEqual(np.spec.ingress, [{ ports: [{ port: 8080, protocol: 'TCP' }] }]);
});

test('the admin port is opened only to the peers in adminFrom, and the proxy port to proxyFrom', () => {
  const monitoring = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
  const gateway = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gateway' } } };
  const np = find<NetworkPolicy>(
    render(CHARTS.example, { values: ['service-production.yaml'], set: { 'ratewarden.networkPolicy.proxyFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name': 'gateway' } }),
    'NetworkPolicy',
  );
  assert.deepEqual(np.spec.ingress, [
    { ports: [{ port: 8080, protocol: 'TCP' }], from: [gateway] },
    { ports: [{ port: 9091, protocol: 'TCP' }], from: [monitoring] },
  ]);
});

test('the PodMonitor scrapes the admin port of exactly the service pods', () => {
  const objects = render(CHARTS.example, { values: ['service-production.yaml'] });
  const pm = find(objects, 'PodMonitor') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string; path: string }> } };
  assert.deepEqual(pm.spec.selector.matchLabels, find<Workload>(objects, 'Deployment').spec.template.metadata.labels);
  assert.deepEqual(pm.spec.podMetricsEndpoints.map((e) => [e.port, e.path]), [['rw-admin', '/metrics']]);
  assert.equal(pm.metadata.labels?.release, 'kube-prometheus-stack');
  assert.ok(!render(CHARTS.example).some((o) => o.kind === 'PodMonitor'), 'off by default');
});

test("the JWT secret the sidecar's policy names is wired from the service's Secret, and RW_HASH_KEY is mandatory when required", () => {
  const sidecar = container(render(CHARTS.example, { values: ['service-production.yaml'] }), 'ratewarden');
  const jwt = sidecar.env?.find((e) => e.name === 'CHECKOUT_JWT_SECRET');
  assert.deepEqual(jwt?.valueFrom?.secretKeyRef, { name: 'ratewarden-secrets', key: 'CHECKOUT_JWT_SECRET' });
  const hash = sidecar.env?.find((e) => e.name === 'RW_HASH_KEY');
  assert.deepEqual(hash?.valueFrom?.secretKeyRef, { name: 'ratewarden-secrets', key: 'RW_HASH_KEY', optional: false });
  for (const name of ['REDIS_PASSWORD', 'KAFKA_SASL_PASSWORD']) {
    assert.equal(sidecar.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef?.name, 'ratewarden-secrets', name);
  }
});

test('without a Secret the sidecar gets no secret env at all', () => {
  const sidecar = container(render(CHARTS.example), 'ratewarden');
  assert.deepEqual(envNames(sidecar), ['RW_POD', 'RW_SERVICE', 'RW_DRAIN_SECONDS', 'RW_SHUTDOWN_DELAY', 'RW_MAX_CONNECTIONS']);
});

test('restartOnPolicyChange puts a checksum of the policy on the pod, which changes with the policy', () => {
  const checksum = (limit: string) =>
    find<Workload>(render(CHARTS.example, { set: { 'ratewarden.restartOnPolicyChange': 'true', 'ratewarden.policy.rules[0].id': 'a', 'ratewarden.policy.rules[0].key[0]': 'ip', 'ratewarden.policy.rules[0].algorithm': 'fixed-window', 'ratewarden.policy.rules[0].window': '1s', 'ratewarden.policy.rules[0].limit': limit } }), 'Deployment')
      .spec.template.metadata.annotations?.['ratewarden.io/policy-checksum'];
  assert.match(checksum('5')!, /^[0-9a-f]{64}$/);
  assert.notEqual(checksum('5'), checksum('6'));
  assert.equal(find<Workload>(render(CHARTS.example), 'Deployment').spec.template.metadata.annotations?.['ratewarden.io/policy-checksum'], undefined);
});

test('an existing policy ConfigMap is mounted under its key and none is rendered', () => {
  const objects = render(CHARTS.example, { values: ['service-cluster-tls.yaml'] });
  assert.deepEqual(findAll(objects, 'ConfigMap'), []);
  const policy = podSpec(objects).volumes?.find((v) => v.name === 'rw-policy');
  assert.deepEqual(policy?.configMap, { name: 'checkout-ratewarden-policy', items: [{ key: 'checkout.yaml', path: 'checkout.yaml' }] });
  assert.ok(podSpec(objects).volumes?.some((v) => v.name === 'rw-redis-ca' && v.secret?.secretName === 'redis-tls'));
});

test('with ratewarden.enabled false the same chart renders the plain service: no sidecar, no policy, no NetworkPolicy', () => {
  const objects = render(CHARTS.example, { values: ['service-disabled.yaml'] });
  assert.deepEqual(objects.map((o) => o.kind).sort(), ['Deployment', 'Service']);
  const spec = podSpec(objects);
  assert.deepEqual(spec.containers.map((c) => c.name), ['app']);
  assert.equal(spec.volumes, undefined);
  assert.equal(find<Workload>(objects, 'Deployment').spec.template.metadata.annotations, undefined);
  assert.deepEqual(container(objects, 'app').args?.[0], '-listen=0.0.0.0:5678');
  const svc = find(objects, 'Service') as K8sObject & { spec: { ports: Array<{ targetPort: string }> } };
  assert.equal(svc.spec.ports[0]!.targetPort, 'app');
});

test('enabled: false and networkPolicy.enabled: false given alone are honoured, not lost when merged over the defaults', () => {
  const objects = render(CHARTS.example, { set: { 'ratewarden.enabled': 'false' } });
  assert.deepEqual(podSpec(objects).containers.map((c) => c.name), ['app']);
  assert.ok(!objects.some((o) => o.kind === 'NetworkPolicy'));
  const off = render(CHARTS.example, { set: { 'ratewarden.networkPolicy.enabled': 'false' } });
  assert.ok(!off.some((o) => o.kind === 'NetworkPolicy'));
  assert.deepEqual(podSpec(off).containers.map((c) => c.name), ['app', 'ratewarden']);
});

// --- the sidecar values are checked: by the library's templates in any chart, by the schema in helm lint ---
// helm validates a chart's values.schema.json against that chart's own scope only: a library chart's
// schema would see `.Values.ratewarden-sidecar`, never the block the service chart passes to the
// templates. So the library checks that block itself (template, install), in any chart; and since
// helm lint treats `fail` as a warning, it ships the same rules as sidecar-values.schema.json for the
// service chart's own values.schema.json (helm/example-service embeds it), which lint enforces.

/** helm/README.md's minimal chart: a service chart without a values.schema.json. */
let schemalessChart: string | undefined;
const schemaless = (): string => (schemalessChart ??= scratchChart('readme-chart-checks', readmeChartFiles()));

const sidecarValueCases: Array<[string, Record<string, string>, RegExp, RegExp]> = [
  // [what, --set, the templates' message (a chart without a schema), the schema's message (helm/example-service)]
  ['a misspelt key', { 'ratewarden.listenPrt': '8081' }, /unknown key ratewarden\.listenPrt \(a typo\? ratewarden takes .*listenPort/, /at '\/ratewarden': additional properties 'listenPrt' not allowed/],
  ['a misspelt enabled, which would leave the sidecar on', { 'ratewarden.enabeld': 'false' }, /unknown key ratewarden\.enabeld/, /at '\/ratewarden': additional properties 'enabeld'/],
  ['a misspelt nested key', { 'ratewarden.redis.tls.enable': 'true' }, /unknown key ratewarden\.redis\.tls\.enable \(a typo\? ratewarden\.redis\.tls takes caKey, caSecret, enabled\)/, /at '\/ratewarden\/redis\/tls': additional properties 'enable'/],
  ['a misspelt resources key', { 'ratewarden.resources.limts.memory': '1Gi' }, /unknown key ratewarden\.resources\.limts/, /at '\/ratewarden\/resources': additional properties 'limts'/],
  ['a misspelt probe field', { 'ratewarden.probes.liveness.periodSecond': '5' }, /unknown key ratewarden\.probes\.liveness\.periodSecond/, /at '\/ratewarden\/probes\/liveness': additional properties 'periodSecond'/],
  ['a misspelt NetworkPolicy key', { 'ratewarden.networkPolicy.adminFrm[0].podSelector.matchLabels.app': 'prometheus' }, /unknown key ratewarden\.networkPolicy\.adminFrm/, /at '\/ratewarden\/networkPolicy': additional properties 'adminFrm'/],
  ['a port that is not a number', { 'ratewarden.listenPort': 'http' }, /ratewarden\.listenPort must be an integer, not "http" \(a string\)/, /at '\/ratewarden\/listenPort': got string, want integer/],
  ['a port that is not an integer', { 'ratewarden.upstreamPort': '5678.5' }, /ratewarden\.upstreamPort must be an integer or null, not "?5678\.5/, /at '\/ratewarden\/upstreamPort': got string, want null or integer/],
  ['a port out of range', { 'ratewarden.adminPort': '70000' }, /ratewarden\.adminPort must be at most 65535 \(got 70000\)/, /at '\/ratewarden\/adminPort': maximum/],
  ['port 0', { 'ratewarden.listenPort': '0' }, /ratewarden\.listenPort must be at least 1 \(got 0\)/, /at '\/ratewarden\/listenPort': minimum/],
  ['a negative drain time', { 'ratewarden.drainSeconds': '-1' }, /ratewarden\.drainSeconds must be at least 0/, /at '\/ratewarden\/drainSeconds': minimum/],
  ['a boolean written as a word', { 'ratewarden.networkPolicy.enabled': 'no' }, /ratewarden\.networkPolicy\.enabled must be a boolean, not "no"/, /at '\/ratewarden\/networkPolicy\/enabled': got string, want boolean/],
  ['a string where a map goes', { 'ratewarden.redis': 'single' }, /ratewarden\.redis must be a map, not "single"/, /at '\/ratewarden\/redis': got string, want object/],
  ['a string where a list goes', { 'ratewarden.kafka.brokers': 'kafka.data:9092' }, /ratewarden\.kafka\.brokers must be a list/, /at '\/ratewarden\/kafka\/brokers': got string, want array/],
  ['a map where a list goes', { 'ratewarden.extraEnv.NODE_OPTIONS': '--max-old-space-size=200' }, /ratewarden\.extraEnv must be a list, not a map/, /at '\/ratewarden\/extraEnv': got object, want array/],
  ['an env entry without a name', { 'ratewarden.extraEnv[0].value': 'x' }, /ratewarden\.extraEnv\[0\]\.name is required/, /at '\/ratewarden\/extraEnv\/0': missing property 'name'/],
  ['an unknown Redis mode', { 'ratewarden.redis.mode': 'sentinel' }, /ratewarden\.redis\.mode must be one of none, single, cluster \(got "sentinel"\)/, /at '\/ratewarden\/redis\/mode': value must be one of/],
  ['an unknown SASL mechanism', { 'ratewarden.kafka.sasl.mechanism': 'gssapi' }, /ratewarden\.kafka\.sasl\.mechanism must be one of/, /at '\/ratewarden\/kafka\/sasl\/mechanism'/],
  ['an unknown pull policy', { 'ratewarden.image.pullPolicy': 'always' }, /ratewarden\.image\.pullPolicy must be one of Always, IfNotPresent, Never/, /at '\/ratewarden\/image\/pullPolicy'/],
  ['a memory limit that is not a Kubernetes quantity', { 'ratewarden.resources.limits.memory': '256MB' }, /ratewarden\.resources\.limits\.memory must be a Kubernetes quantity .* \(got "256MB"\)/, /at '\/ratewarden\/resources\/limits\/memory': '256MB' does not match/],
  ['a CPU request that is not a Kubernetes quantity', { 'ratewarden.resources.requests.cpu': 'half' }, /ratewarden\.resources\.requests\.cpu must be a Kubernetes quantity/, /at '\/ratewarden\/resources\/requests\/cpu'/],
  ['a broker without a port', { 'ratewarden.kafka.brokers[0]': 'kafka.data' }, /ratewarden\.kafka\.brokers\[0\] must be host:port/, /at '\/ratewarden\/kafka\/brokers\/0'/],
  ['a Redis URL of another scheme', { 'ratewarden.redis.url': 'http://redis:6379' }, /ratewarden\.redis\.url must be a redis:\/\/ or rediss:\/\/ URL/, /at '\/ratewarden\/redis\/url'/],
  ['a digest that is not a sha256 digest', { 'ratewarden.image.digest': 'sha256:abc' }, /ratewarden\.image\.digest must be sha256:/, /at '\/ratewarden\/image\/digest'/],
  ['a tag inside the repository', { 'ratewarden.image.repository': 'ratewarden/ratewarden:0.1.0' }, /ratewarden\.image\.repository must be an image repository/, /at '\/ratewarden\/image\/repository'/],
  ['a shutdown delay over the 300 s the sidecar accepts', { 'ratewarden.shutdownDelaySeconds': '600' }, /ratewarden\.shutdownDelaySeconds must be at most 300/, /at '\/ratewarden\/shutdownDelaySeconds': maximum/],
  ['a connection cap of 0 (the sidecar refuses it)', { 'ratewarden.maxConnections': '0' }, /ratewarden\.maxConnections must be at least 1/, /at '\/ratewarden\/maxConnections': minimum/],
  ['a connection cap over the 1,000,000 the sidecar accepts', { 'ratewarden.maxConnections': '2000000' }, /ratewarden\.maxConnections must be at most 1000000/, /at '\/ratewarden\/maxConnections': maximum/],
  ['a drain time over a day (the sidecar refuses it)', { 'ratewarden.drainSeconds': '90000' }, /ratewarden\.drainSeconds must be at most 86400/, /at '\/ratewarden\/drainSeconds': maximum/],
  ['a scrape interval that is not a duration', { 'ratewarden.podMonitor.interval': '30 seconds' }, /ratewarden\.podMonitor\.interval must be a duration/, /at '\/ratewarden\/podMonitor\/interval'/],
  ['a liveness successThreshold above 1, which Kubernetes refuses', { 'ratewarden.probes.liveness.successThreshold': '2' }, /ratewarden\.probes\.liveness\.successThreshold must be at most 1 \(got 2\): Kubernetes requires 1/, /at '\/ratewarden\/probes\/liveness\/successThreshold': maximum/],
  ['a policy that is a number', { 'ratewarden.policy': '5' }, /ratewarden\.policy must be a map, a string or null, not 5/, /at '\/ratewarden\/policy': got number, want/],
];
for (const [what, set, templateMessage, schemaMessage] of sidecarValueCases) {
  test(`the sidecar refuses ${what}, naming the value, with or without a values schema`, () => {
    assert.match(renderError(schemaless(), { set }), templateMessage);
    assert.match(renderError(CHARTS.example, { set }), schemaMessage);
  });
}

test('every bad sidecar value is reported at once, by helm template, helm install and (with the schema) helm lint', () => {
  const set = { 'ratewarden.listenPrt': '8081', 'ratewarden.adminPort': 'admin', 'ratewarden.redis.mode': 'sentinel' };
  const message = renderError(schemaless(), { set });
  for (const re of [/unknown key ratewarden\.listenPrt/, /ratewarden\.adminPort must be an integer/, /ratewarden\.redis\.mode must be one of/]) assert.match(message, re);
  const installed = helm(['install', 'rw', schemaless(), '--dry-run=client', '--set', 'ratewarden.listenPort=http']);
  assert.notEqual(installed.status, 0, 'helm install rendered containerPort: 0');
  assert.match(installed.stderr, /ratewarden\.listenPort must be an integer, not "http"/);
  const linted = lint(CHARTS.example, { set });
  assert.notEqual(linted.status, 0);
  for (const re of [/additional properties 'listenPrt'/, /\/ratewarden\/adminPort': got string, want integer/, /\/ratewarden\/redis\/mode'/]) assert.match(linted.stdout + linted.stderr, re);
});

test('a typo is refused even with the sidecar disabled: `enabeld: false` must not leave it on unnoticed', () => {
  assert.match(renderError(schemaless(), { set: { 'ratewarden.enabled': 'false', 'ratewarden.listenPrt': '1' } }), /unknown key ratewarden\.listenPrt/);
  assert.match(renderError(CHARTS.example, { set: { 'ratewarden.enabled': 'false', 'ratewarden.listenPrt': '1' } }), /additional properties 'listenPrt'/);
});

test('values in every form YAML and --set produce are accepted: numbers from a file or from --set, quantities as numbers or strings', () => {
  const file = join(work, 'forms.yaml');
  writeFileSync(
    file,
    [
      'ratewarden:',
      '  upstreamPort: 5678', // a float64 once helm has read the file
      '  drainSeconds: 86400',
      '  shutdownDelaySeconds: 300',
      '  resources: { requests: { cpu: 1, memory: 64Mi }, limits: { cpu: "1.5", memory: 0.5Gi } }',
      '  probes: { liveness: { periodSeconds: 20, successThreshold: 1, initialDelaySeconds: 0 } }',
      '  podMonitor: { enabled: true, interval: 1m30s, labels: { release: prom } }',
      '  networkPolicy: { proxyFrom: [{ podSelector: {} }], extraIngress: [{ ports: [{ port: 8443 }] }] }',
      '  extraEnv: [{ name: NODE_OPTIONS, value: --max-old-space-size=192 }]',
      '',
    ].join('\n'),
  );
  const set = { 'ratewarden.listenPort': '8081', 'ratewarden.resources.requests.memory': '96Mi' };
  for (const chart of [CHARTS.example, schemaless()]) {
    const sidecar = container(render(chart, { values: [file], set }), 'ratewarden');
    assert.deepEqual(sidecar.resources, { requests: { cpu: 1, memory: '96Mi' }, limits: { cpu: '1.5', memory: '0.5Gi' } });
    assert.equal(sidecar.ports?.find((p) => p.name === 'rw-proxy')?.containerPort, 8081);
  }
  // and the same values, mistyped, are refused
  const bad = { ...set, 'ratewarden.resources.limits.memory': '0.5GB' };
  assert.match(renderError(schemaless(), { values: [file], set: bad }), /ratewarden\.resources\.limits\.memory must be a Kubernetes quantity/);
  assert.match(renderError(CHARTS.example, { values: [file], set: bad }), /\/ratewarden\/resources\/limits\/memory'/);
});

test("the library's sidecar-values.schema.json, the rules its templates apply and helm/example-service's schema are the same", () => {
  // what helm reads from the define (its YAML parser, anchors and all) is what the generator reads
  const chart = scratchChart('schema-chart', {
    'Chart.yaml': 'apiVersion: v2\nname: schema\nversion: 0.0.1\ndependencies:\n  - { name: ratewarden-sidecar, version: 0.1.0, repository: "file://x" }\n',
    'templates/schema.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: schema }\ndata:\n  schema.json: {{ include "ratewarden-sidecar.valuesSchema" . | fromYaml | toJson | quote }}\n',
  });
  const applied = JSON.parse((find(render(chart), 'ConfigMap') as K8sObject & { data: { 'schema.json': string } }).data['schema.json']) as unknown;
  assert.deepEqual(sidecarRules(), applied);
  const expected = expectedSchemaFiles();
  const hint = 'run `node --import tsx test/helm/sidecarSchema.ts` after changing ratewarden-sidecar.valuesSchema';
  assert.equal(readFileSync(SIDECAR_SCHEMA_FILE, 'utf8'), expected.sidecar, hint);
  assert.equal(readFileSync(EXAMPLE_SCHEMA_FILE, 'utf8'), expected.example, hint);
});

// --- the README's how-to -----------------------------------------------------------------------

function readmeChartFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const re = /<!-- chart-file: (\S+) -->\s*```yaml\n([\s\S]*?)```/g;
  for (let m = re.exec(README); m; m = re.exec(README)) files[m[1]!] = m[2]!;
  return files;
}

test("helm/README.md's minimal service chart renders valid objects with the sidecar its loader accepts", async () => {
  const files = readmeChartFiles();
  assert.deepEqual(Object.keys(files).sort(), ['Chart.yaml', 'templates/deployment.yaml', 'templates/ratewarden.yaml', 'templates/service.yaml', 'values.yaml']);
  const chart = scratchChart('readme-chart', files);
  const objects = render(chart, { release: 'shop' });
  assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'NetworkPolicy', 'Service']);
  assert.deepEqual((await validateObjects(objects)).map((e) => e.message), []);

  const sidecar = container(objects, 'ratewarden');
  const env: Record<string, string> = { RW_POD: 'shop-1', RW_HASH_KEY: 'k' };
  for (const e of sidecar.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  const config = parseSidecarArgs(sidecar.args!.slice(1), env);
  assert.equal(config.upstream.href, 'http://127.0.0.1:3000/');
  assert.equal(config.redis?.url, 'redis://redis-master.data:6379');
  assert.equal(config.service, 'shop');
  const svc = find(objects, 'Service') as K8sObject & { spec: { ports: Array<{ targetPort: string }> } };
  assert.equal(svc.spec.ports[0]!.targetPort, 'rw-proxy');
});

function flatten(obj: Record<string, unknown>, prefix: string, stopAt: readonly string[]): string[] {
  const keys: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !stopAt.includes(key)) keys.push(...flatten(v as Record<string, unknown>, key, stopAt));
    else keys.push(key);
  }
  return keys;
}

test('helm/README.md documents every value of the analyzer chart', () => {
  const values = parseYaml(readFileSync(join(CHARTS.analyzer, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const keys = flatten(values, '', ['policy', 'podSecurityContext', 'analyzer.resources', 'analyzer.probes']);
  const missing = keys.filter((k) => !README.includes(`\`${k}\``));
  assert.deepEqual(missing, []);
});

test('helm/README.md documents every sidecar value the library defaults', () => {
  const chart = scratchChart('defaults-chart', {
    'Chart.yaml': 'apiVersion: v2\nname: defaults\nversion: 0.0.1\ndependencies:\n  - { name: ratewarden-sidecar, version: 0.1.0, repository: "file://x" }\n',
    'templates/defaults.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: defaults }\ndata:\n  defaults.yaml: {{ include "ratewarden-sidecar.values" (dict) | quote }}\n',
  });
  const cm = find(render(chart), 'ConfigMap') as K8sObject & { data: { 'defaults.yaml': string } };
  const defaults = parseYaml(cm.data['defaults.yaml']) as Record<string, unknown>;
  const keys = flatten(defaults, '', ['resources', 'probes.startup', 'probes.liveness', 'probes.readiness', 'redis', 'kafka']);
  const sidecarSection = README.slice(README.indexOf('### Sidecar values'));
  const missing = keys.filter((k) => !sidecarSection.includes(`\`${k}\``) && !sidecarSection.includes(`\`${k.split('.')[0]}.*\``));
  assert.deepEqual(missing, []);
  // the sidecar's redis/kafka blocks have exactly the analyzer chart's keys
  const analyzerValues = parseYaml(readFileSync(join(CHARTS.analyzer, 'values.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  for (const block of ['redis', 'kafka']) {
    assert.deepEqual(flatten(defaults[block] as Record<string, unknown>, block, []).sort(), flatten(analyzerValues[block]!, block, []).sort(), block);
  }
});
