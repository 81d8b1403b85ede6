/**
 * The charts as a whole: they lint, render with every values file, reject bad values (schema and
 * install-time checks), keep the security properties on every container, package into a
 * self-contained archive, render Grafana dashboards from dashboards/, and agree with package.json
 * on the version.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { storeSchema } from '../../models/policy/schema.js';
import { ROOT } from '../helpers/infra.js';
import {
  ANALYZER_VALUES,
  CHARTS,
  container,
  EXAMPLE_VALUES,
  find,
  findAll,
  helm,
  lint,
  render,
  renderError,
  renderText,
  type Container,
  type K8sObject,
  type Workload,
} from './helm.js';

const work = mkdtempSync(join(tmpdir(), 'rw-helm-chart-'));
after(() => rmSync(work, { recursive: true, force: true }));

// --- lint and render ---------------------------------------------------------------------------

test('the library chart lints', () => {
  const r = lint(CHARTS.sidecar);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

for (const values of ANALYZER_VALUES) {
  test(`the analyzer chart lints with ${values}`, () => {
    const r = lint(CHARTS.analyzer, { values: [values] });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
}

for (const values of [null, ...EXAMPLE_VALUES]) {
  test(`the example service chart lints with ${values ?? 'its default values'}`, () => {
    const r = lint(CHARTS.example, values ? { values: [values] } : {});
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
}

test('the analyzer chart renders the analyzer, its Service, ServiceAccount, PDB, NetworkPolicy, policy ConfigMap and Secret by default', () => {
  const kinds = render(CHARTS.analyzer, { values: ['minimal.yaml'] }).map((o) => o.kind).sort();
  assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount']);
});

test('production values add the HPA and ServiceMonitor, leave replicas to the HPA and use the existing Secret', () => {
  const objects = render(CHARTS.analyzer, { values: ['production.yaml'] });
  const kinds = objects.map((o) => o.kind);
  for (const k of ['HorizontalPodAutoscaler', 'ServiceMonitor', 'PodDisruptionBudget', 'NetworkPolicy']) assert.ok(kinds.includes(k), k);
  assert.ok(!kinds.includes('Secret'), 'an existing Secret is used, none is rendered');
  assert.equal(find<Workload>(objects, 'Deployment').spec.replicas, undefined);
  const hpa = find(objects, 'HorizontalPodAutoscaler') as K8sObject & { spec: { minReplicas: number; maxReplicas: number; scaleTargetRef: { name: string } } };
  assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.scaleTargetRef.name], [2, 6, 'rw-ratewarden']);
  const pdb = find(objects, 'PodDisruptionBudget') as K8sObject & { spec: Record<string, unknown> };
  assert.deepEqual([pdb.spec.minAvailable, pdb.spec.maxUnavailable], [1, undefined]);
  const np = find(objects, 'NetworkPolicy') as K8sObject & { spec: { policyTypes: string[]; egress: Array<{ ports: Array<{ port: number }> }> } };
  assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(np.spec.egress.flatMap((e) => e.ports.map((p) => p.port)), [53, 53, 6380, 9093]);
});

test('a policy given as a string reaches the ConfigMap verbatim, comments included', () => {
  const objects = render(CHARTS.analyzer, { values: ['production.yaml'] });
  const values = parseYaml(readFileSync(join(ROOT, 'test/helm/values/production.yaml'), 'utf8')) as { policy: string };
  const cm = find(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> };
  assert.equal(cm.data['policy.yaml']!.trim(), values.policy.trim());
});

test('the chart-created Secret holds every value given and a generated admin token', () => {
  const secret = find(render(CHARTS.analyzer, { values: ['tls.yaml'] }), 'Secret') as K8sObject & { data: Record<string, string> };
  const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  assert.equal(decoded.RW_HASH_KEY, 'test-hash-key');
  assert.equal(decoded.REDIS_PASSWORD, 'test-redis-password');
  assert.equal(decoded.KAFKA_SASL_PASSWORD, 'test-kafka-password');
  assert.equal(decoded.JWT_SECRET, 'test-jwt-secret-of-at-least-32-bytes', "stored under the policy's identity.jwt.secretEnv");
  assert.match(decoded.RW_ADMIN_TOKEN!, /^[A-Za-z0-9]{40}$/);
});

test('no secret value appears in any object other than the Secret', () => {
  for (const values of ['tls.yaml', 'cluster-redis.yaml']) {
    const text = renderText(CHARTS.analyzer, { values: [values] });
    const docs = text.split(/^---$/m).filter((d) => !/^kind: Secret$/m.test(d));
    for (const secret of ['test-hash-key', 'test-redis-password', 'test-kafka-password', 'test-jwt-secret', 'test-admin-token', 'test-readonly-token']) {
      assert.ok(!docs.some((d) => d.includes(secret)), `${secret} leaks out of the Secret (${values})`);
    }
  }
});

test('restartOnPolicyChange rolls the analyzer when the policy changes, and only then', () => {
  const annotations = (set: Record<string, string>) =>
    find<Workload>(render(CHARTS.analyzer, { values: ['minimal.yaml'], set: { 'secrets.adminToken': 'fixed', ...set } }), 'Deployment').spec.template.metadata.annotations ?? {};
  assert.equal(annotations({})['checksum/policy'], undefined);
  const a = annotations({ restartOnPolicyChange: 'true' })['checksum/policy'];
  const b = annotations({ restartOnPolicyChange: 'true', 'policy.rules[0].limit': '5', 'policy.rules[0].id': 'x', 'policy.rules[0].key[0]': 'ip', 'policy.rules[0].algorithm': 'fixed-window', 'policy.rules[0].window': '1s' })['checksum/policy'];
  assert.match(a!, /^[0-9a-f]{64}$/);
  assert.notEqual(a, b);
});

test('grafanaDashboard renders every dashboards/*.json into one labelled ConfigMap', () => {
  const copy = join(work, 'with-dashboards');
  cpSync(CHARTS.analyzer, copy, { recursive: true, dereference: true });
  mkdirSync(join(copy, 'dashboards'), { recursive: true });
  writeFileSync(join(copy, 'dashboards', 'overview.json'), JSON.stringify({ title: 'ratewarden overview', panels: [] }));
  writeFileSync(join(copy, 'dashboards', 'analyzer.json'), JSON.stringify({ title: 'ratewarden analyzer', panels: [] }));
  const objects = render(copy, { values: ['minimal.yaml'], set: { 'grafanaDashboard.enabled': 'true', 'grafanaDashboard.namespace': 'monitoring' } });
  const cm = findAll(objects, 'ConfigMap').find((o) => o.metadata.name.endsWith('-dashboards')) as K8sObject & { data: Record<string, string> };
  assert.ok(cm, 'no dashboards ConfigMap');
  assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
  assert.equal(cm.metadata.namespace, 'monitoring');
  // the chart's own dashboards (helm/ratewarden/dashboards/) plus the two added here
  const shipped = existsSync(join(CHARTS.analyzer, 'dashboards')) ? readdirSync(join(CHARTS.analyzer, 'dashboards')).filter((f) => f.endsWith('.json')) : [];
  assert.deepEqual(Object.keys(cm.data).sort(), [...new Set([...shipped, 'analyzer.json', 'overview.json'])].sort());
  assert.equal((JSON.parse(cm.data['overview.json']!) as { title: string }).title, 'ratewarden overview');
  const off = render(copy, { values: ['minimal.yaml'] });
  assert.ok(!off.some((o) => o.metadata.name.endsWith('-dashboards')), 'disabled by default');
});

test('the charts package into archives that carry the library chart and render the same objects', () => {
  const out = join(work, 'packages');
  mkdirSync(out, { recursive: true });
  for (const chart of [CHARTS.analyzer, CHARTS.example]) {
    const r = helm(['package', chart, '--destination', out]);
    assert.equal(r.status, 0, r.stderr);
  }
  const archives = readdirSync(out).sort();
  assert.deepEqual(archives, ['example-service-0.1.0.tgz', 'ratewarden-0.1.0.tgz']);
  const strip = (objs: K8sObject[]) => objs.filter((o) => o.kind !== 'Secret').map((o) => JSON.stringify(o)).sort();
  assert.deepEqual(strip(render(join(out, 'ratewarden-0.1.0.tgz'), { values: ['production.yaml'] })), strip(render(CHARTS.analyzer, { values: ['production.yaml'] })));
  assert.deepEqual(strip(render(join(out, 'example-service-0.1.0.tgz'), { values: ['service-production.yaml'] })), strip(render(CHARTS.example, { values: ['service-production.yaml'] })));
});

test('object names stay valid DNS labels of at most 63 characters with the longest release name helm allows', () => {
  const release = 'a-very-long-release-name-for-the-checkout-team-prod1'.padEnd(53, 'x');
  for (const [chart, values] of [[CHARTS.analyzer, 'production.yaml'], [CHARTS.example, 'service-production.yaml']] as const) {
    for (const obj of render(chart, { release, values: [values] })) {
      assert.match(obj.metadata.name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, `${obj.kind} ${obj.metadata.name}`);
    }
  }
});

test('an image digest pins both programs to it, whatever the tag', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const analyzer = find<Workload>(render(CHARTS.analyzer, { values: ['minimal.yaml'], set: { 'image.digest': digest } }), 'Deployment').spec.template.spec.containers[0]!;
  assert.equal(analyzer.image, `ratewarden/ratewarden@${digest}`);
  const sidecar = find<Workload>(render(CHARTS.example, { set: { 'ratewarden.image.digest': digest } }), 'Deployment').spec.template.spec.containers.find((c) => c.name === 'ratewarden')!;
  assert.equal(sidecar.image, `ratewarden/ratewarden@${digest}`);
});

// --- values.schema.json and install-time checks ----------------------------------------------

const schemaCases: Array<[string, Record<string, string>, RegExp]> = [
  ['an unknown top-level key', { replicas: '3' }, /additional propert.*replicas/],
  ['an unknown Redis mode', { 'redis.mode': 'sentinel' }, /redis\/mode/],
  ['a broker without a port', { 'kafka.brokers[0]': 'kafka.data.svc' }, /kafka\/brokers\/0/],
  ['an unsupported SASL mechanism', { 'kafka.sasl.mechanism': 'gssapi' }, /kafka\/sasl\/mechanism/],
  ['a Redis URL of another scheme', { 'redis.url': 'http://redis:6379' }, /redis\/url/],
  ['a policy of another version', { 'policy.version': '2' }, /policy/],
  ['an analyzer port out of range', { 'analyzer.port': '70000' }, /analyzer\/port/],
  // the free-form objects are closed too: a misspelt key would reach the manifest
  ['a misspelt key under analyzer.resources', { 'analyzer.resources.limts.memory': '1Gi' }, /analyzer\/resources'?: additional propert.*limts/],
  ['a memory limit that is not a Kubernetes quantity', { 'analyzer.resources.limits.memory': '3GB' }, /analyzer\/resources\/limits\/memory/],
  ['a misspelt key under podSecurityContext', { 'podSecurityContext.runAsNonroot': 'true' }, /podSecurityContext'?: additional propert.*runAsNonroot/],
  ['a misspelt key under analyzer.affinity', { 'analyzer.affinity.nodeAfinity.x': 'y' }, /analyzer\/affinity'?: additional propert.*nodeAfinity/],
];
test('the analyzer chart refuses to install without Kafka brokers or without Redis, saying why (the analyzer would exit 2)', () => {
  assert.match(renderError(CHARTS.analyzer), /kafka.brokers is required/);
  assert.match(renderError(CHARTS.analyzer, { set: { 'kafka.brokers[0]': 'kafka.data.svc:9092' } }), /redis.mode is none/);
  assert.ok(render(CHARTS.analyzer, { set: { 'kafka.brokers[0]': 'kafka.data.svc:9092', 'redis.mode': 'single', 'redis.url': 'redis://redis:6379' } }).some((o) => o.kind === 'Deployment'));
});

for (const [what, set, message] of schemaCases) {
  test(`values.schema.json rejects ${what}`, () => {
    assert.match(renderError(CHARTS.analyzer, { set }), message);
  });
}

test("the analyzer chart's values.schema.json declares every key of values.yaml and refuses unknown keys in every map but the policy", () => {
  const schema = JSON.parse(readFileSync(join(CHARTS.analyzer, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
  const values = parseYaml(readFileSync(join(CHARTS.analyzer, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const undeclared: string[] = [];
  const open: string[] = [];
  const walk = (v: Record<string, unknown>, s: Record<string, unknown>, path: string): void => {
    // closed: additionalProperties false, or a schema every other key must meet (labels, annotations: strings)
    if (s.additionalProperties !== false && typeof s.additionalProperties !== 'object') {
      open.push(path);
      return;
    }
    const props = (s.properties ?? {}) as Record<string, Record<string, unknown>>;
    for (const [k, x] of Object.entries(v)) {
      const key = path ? `${path}.${k}` : k;
      if (props[k]) {
        if (x && typeof x === 'object' && !Array.isArray(x)) walk(x as Record<string, unknown>, props[k]!, key);
      } else if (s.additionalProperties === false) undeclared.push(key);
    }
  };
  walk(values, schema, '');
  assert.deepEqual(undeclared, []);
  // the policy is the program's to check (`ratewarden check`; the charts check its store)
  assert.deepEqual(open, ['policy']);
});

test("the example service chart's values.schema.json refuses a misspelt or mistyped key of the service or of its sidecar", () => {
  assert.match(renderError(CHARTS.example, { set: { replicaCont: '3' } }), /additional propert.*replicaCont/);
  assert.match(renderError(CHARTS.example, { set: { 'app.port': 'http' } }), /app\/port/);
  assert.match(renderError(CHARTS.example, { set: { 'service.tpye': 'NodePort' } }), /service'?: additional propert.*tpye/);
  // the ratewarden block has the library's rules (sidecar-values.schema.json)
  assert.match(renderError(CHARTS.example, { set: { 'ratewarden.listenPrt': '8081' } }), /at '\/ratewarden': additional propert.*listenPrt/);
});

test("the example application's text reaches its args verbatim, quotes included, instead of breaking the manifest", () => {
  const text = 'say "hi": it\'s #1';
  assert.deepEqual(container(render(CHARTS.example, { set: { 'app.text': text } }), 'app').args, ['-listen=127.0.0.1:5678', `-text=${text}`]);
});

const installCases: Array<[string, string, Record<string, string>, RegExp]> = [
  ['the analyzer chart', 'a Redis store in the policy without Redis', { 'policy.store.kind': 'redis', 'redis.mode': 'none' }, /redis.mode is none/],
  ['the analyzer chart', 'Redis AUTH without a password', { 'redis.mode': 'single', 'redis.url': 'redis://r:6379', 'redis.auth.enabled': 'true' }, /secrets.redisPassword/],
  ['the analyzer chart', 'a Redis URL that carries a password', { 'redis.mode': 'single', 'redis.url': 'redis://:hunter2@r:6379' }, /must not carry a password/],
  ['the analyzer chart', 'Redis TLS with a redis:// URL', { 'redis.mode': 'single', 'redis.url': 'redis://r:6379', 'redis.tls.enabled': 'true' }, /rediss:\/\//],
  ['the analyzer chart', 'a cluster without nodes', { 'redis.mode': 'cluster' }, /redis.clusterNodes is required/],
  ['the analyzer chart', 'SASL without a password', { 'kafka.brokers[0]': 'k:9092', 'kafka.sasl.mechanism': 'plain', 'kafka.sasl.username': 'u' }, /secrets.kafkaSaslPassword/],
  ['the analyzer chart', 'a required hash key that is missing', { 'secrets.requireHashKey': 'true' }, /secrets.hashKey/],
  ['the analyzer chart', 'minReplicas above maxReplicas', { 'autoscaling.enabled': 'true', 'autoscaling.minReplicas': '5', 'autoscaling.maxReplicas': '2' }, /minReplicas/],
  ['the example service chart', 'a sidecar without upstreamPort', { 'ratewarden.upstreamPort': 'null' }, /ratewarden.upstreamPort/],
  ['the example service chart', 'a sidecar listening on the application port', { 'ratewarden.listenPort': '5678' }, /must differ from ratewarden.upstreamPort/],
  ['the example service chart', 'a sidecar whose policy needs a JWT secret but has no Secret', { 'ratewarden.policy.identity.jwt.algorithms[0]': 'HS256', 'ratewarden.policy.identity.jwt.secretEnv': 'JWT_SECRET' }, /existingSecret to a Secret holding JWT_SECRET/],
  ['the example service chart', 'a sidecar with a Redis store and no Redis', { 'ratewarden.policy.store.kind': 'redis' }, /ratewarden.redis.mode is none/],
  ['the example service chart', 'a sidecar without a policy', { 'ratewarden.policy': 'null' }, /ratewarden.policy/],
  // ioredis takes a password (and a user) from the URL's query as well as from its user info
  ['the analyzer chart', 'a Redis URL with a password in its query', { 'redis.url': 'redis://r:6379/0?password=hunter2' }, /redis.url must not carry a password or username in its query/],
  ['the analyzer chart', 'a Redis URL with a username in its query', { 'redis.url': 'redis://r:6379/0?db=0&username=app' }, /redis.url must not carry a password or username in its query/],
  ['the example service chart', 'a sidecar Redis URL with a password in its query', { 'ratewarden.redis.mode': 'single', 'ratewarden.redis.url': 'redis://r:6379?password=hunter2' }, /ratewarden.redis.url must not carry a password or username in its query/],
  // a CA certificate without TLS would be dropped without a word
  ['the analyzer chart', 'a Redis CA Secret without Redis TLS', { 'redis.tls.caSecret': 'redis-ca' }, /redis.tls.caSecret needs redis.tls.enabled/],
  ['the analyzer chart', 'a Kafka CA Secret without Kafka TLS', { 'kafka.tls.caSecret': 'kafka-ca' }, /kafka.tls.caSecret needs kafka.tls.enabled/],
  ['the example service chart', 'a sidecar Redis CA Secret without Redis TLS', { 'ratewarden.redis.mode': 'cluster', 'ratewarden.redis.clusterNodes[0]': 'r:6379', 'ratewarden.redis.tls.caSecret': 'redis-ca' }, /ratewarden.redis.tls.caSecret needs ratewarden.redis.tls.enabled/],
  ['the example service chart', 'a sidecar Kafka CA Secret without Kafka TLS', { 'ratewarden.kafka.brokers[0]': 'k:9092', 'ratewarden.kafka.tls.caSecret': 'kafka-ca' }, /ratewarden.kafka.tls.caSecret needs ratewarden.kafka.tls.enabled/],
  // every port the pod binds differs: the application's, the proxy's and the admin one
  ['the example service chart', 'a sidecar whose admin port is the application port', { 'ratewarden.adminPort': '5678' }, /ratewarden.adminPort \(5678\) must differ from ratewarden.upstreamPort/],
  ['the example service chart', 'a sidecar listening on the port of its loopback upstream URL', { 'ratewarden.upstream': 'http://127.0.0.1:8080' }, /ratewarden.listenPort \(8080\) must differ from the port of ratewarden.upstream/],
  ['the example service chart', 'a sidecar whose admin port is the port of its loopback upstream URL', { 'ratewarden.upstream': 'http://localhost:9091' }, /ratewarden.adminPort \(9091\) must differ from the port of ratewarden.upstream/],
  ['the example service chart', 'a sidecar whose loopback https upstream has the default port 443 of its listenPort', { 'ratewarden.upstream': 'https://127.0.0.1', 'ratewarden.listenPort': '443' }, /ratewarden.listenPort \(443\) must differ from the port of ratewarden.upstream/],
  ['the example service chart', 'a sidecar whose upstream is not an http(s) URL', { 'ratewarden.upstream': 'tcp://127.0.0.1:5678' }, /ratewarden.upstream must be an http:\/\/ or https:\/\/ URL/],
  // the store settings the charts read: a misspelt kind would skip the Redis check, a misspelt failMode stop the program
  ['the analyzer chart', 'a policy whose store.failMode is neither open nor closed', { 'policy.store.failMode': 'fail-open' }, /policy.store.failMode must be one of open, closed \(got "fail-open"\)/],
  ['the analyzer chart', 'a policy whose store.kind is misspelt', { 'policy.store.kind': 'Redis' }, /policy.store.kind must be one of memory, redis \(got "Redis"\)/],
  ['the example service chart', 'a sidecar policy whose store.failMode is neither open nor closed', { 'ratewarden.policy.store.failMode': 'shut' }, /ratewarden.policy.store.failMode must be one of open, closed/],
  ['the example service chart', 'a sidecar policy whose store is not a map', { 'ratewarden.policy.store': 'redis' }, /ratewarden.policy.store must be a map/],
  // the example's application and its sidecar must agree on the port
  ['the example service chart', 'a sidecar upstreamPort that is not the application port', { 'app.port': '5679' }, /ratewarden.upstreamPort \(5678\) must be app.port \(5679\)/],
];
for (const [chart, what, set, message] of installCases) {
  test(`${chart} refuses to install ${what}, saying why`, () => {
    assert.match(chart === 'the analyzer chart' ? renderError(CHARTS.analyzer, { values: ['minimal.yaml'], set }) : renderError(CHARTS.example, { set }), message);
  });
}

test("every store.kind and store.failMode the policy loader knows renders, in a policy given as an object or as a string", () => {
  const kinds = storeSchema.shape.kind.unwrap().options;
  const failModes = storeSchema.shape.failMode.unwrap().options;
  for (const failMode of failModes) {
    assert.ok(render(CHARTS.analyzer, { values: ['minimal.yaml'], set: { 'policy.store.failMode': failMode } }).length > 0);
    assert.ok(render(CHARTS.example, { set: { 'ratewarden.policy.store.failMode': failMode } }).length > 0);
  }
  for (const kind of kinds) assert.ok(render(CHARTS.analyzer, { values: ['minimal.yaml'], set: { 'policy.store.kind': kind } }).length > 0);
  // the string form is parsed and checked the same way
  const policy = (failMode: string) => valuesFile(`policy-${failMode}.yaml`, `ratewarden:\n  policy: |\n    version: 1\n    store: { kind: memory, failMode: ${failMode} }\n    rules:\n      - { id: a, key: [ip], algorithm: fixed-window, limit: 5, window: 1s }\n`);
  assert.ok(render(CHARTS.example, { values: [policy('closed')] }).length > 0);
  assert.match(renderError(CHARTS.example, { values: [policy('closd')] }), /ratewarden.policy.store.failMode must be one of open, closed \(got "closd"\)/);
});

test('an upstream URL on another host may use the port the sidecar listens on: only loopback shares the pod', () => {
  const sidecar = container(render(CHARTS.example, { set: { 'ratewarden.upstream': 'http://backend.other.svc:8080' } }), 'ratewarden');
  assert.deepEqual(sidecar.args!.slice(sidecar.args!.indexOf('--upstream'), sidecar.args!.indexOf('--upstream') + 2), ['--upstream', 'http://backend.other.svc:8080']);
});

/** A values file holding `text` as written (unquoted numbers stay numbers). */
function valuesFile(name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

/** helm/example-service without its values.schema.json: what a service chart without a schema gets from the library's own checks. */
function exampleWithoutSchema(): string {
  const dir = join(work, 'example-without-schema');
  if (!existsSync(dir)) {
    cpSync(CHARTS.example, dir, { recursive: true, dereference: true });
    rmSync(join(dir, 'values.schema.json'));
  }
  return dir;
}

test('an image tag written as a YAML number is refused with a request to quote it, not rendered as %!s(float64=…)', () => {
  // the library's own check (a service chart without a schema)
  for (const tag of ['1.2', '20260101']) {
    const message = renderError(exampleWithoutSchema(), { values: [valuesFile(`tag-${tag}.yaml`, `ratewarden:\n  image:\n    tag: ${tag}\n`)] });
    assert.match(message, /ratewarden.image.tag must be a string/, message);
    assert.match(message, /quotes/);
    assert.doesNotMatch(message, /%!/);
  }
  // --set reads 20260101 as an integer, too
  assert.match(renderError(exampleWithoutSchema(), { set: { 'ratewarden.image.tag': '20260101' } }), /ratewarden.image.tag must be a string/);
  // the example's schema (sidecar-values.schema.json) and the analyzer chart's want a string
  assert.match(renderError(CHARTS.example, { set: { 'ratewarden.image.tag': '20260101' } }), /ratewarden\/image\/tag': got number, want string/);
  assert.match(renderError(CHARTS.analyzer, { values: ['minimal.yaml', valuesFile('analyzer-tag.yaml', 'image:\n  tag: 1.2\n')] }), /image\/tag/);
});

test('a quoted image tag renders exactly as written, in both charts', () => {
  for (const tag of ['1.2', '20260101', '1.10']) {
    const sidecar = container(render(CHARTS.example, { values: [valuesFile(`tag-q-${tag}.yaml`, `ratewarden:\n  image:\n    tag: "${tag}"\n`)] }), 'ratewarden');
    assert.equal(sidecar.image, `ratewarden/ratewarden:${tag}`);
    const analyzer = find<Workload>(render(CHARTS.analyzer, { values: ['minimal.yaml', valuesFile(`analyzer-tag-q-${tag}.yaml`, `image:\n  tag: "${tag}"\n`)] }), 'Deployment').spec.template.spec.containers[0]!;
    assert.equal(analyzer.image, `ratewarden/ratewarden:${tag}`);
  }
});

// --- security properties -----------------------------------------------------------------------

function everyContainer(): Array<{ where: string; c: Container; pod: Workload['spec']['template']['spec'] }> {
  const all: Array<{ where: string; c: Container; pod: Workload['spec']['template']['spec'] }> = [];
  for (const [chart, files] of [[CHARTS.analyzer, ANALYZER_VALUES], [CHARTS.example, [null, ...EXAMPLE_VALUES]]] as const) {
    for (const file of files) {
      for (const w of findAll(render(chart, file ? { values: [file] } : {}), 'Deployment') as Workload[]) {
        for (const c of w.spec.template.spec.containers) all.push({ where: `${w.metadata.name}/${c.name} (${file ?? 'defaults'})`, c, pod: w.spec.template.spec });
      }
    }
  }
  return all;
}

test('every container runs as non-root with a read-only root filesystem, no capabilities and no privilege escalation', () => {
  for (const { where, c, pod } of everyContainer()) {
    const sc = c.securityContext ?? {};
    assert.equal(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
    assert.notEqual(sc.runAsUser ?? pod.securityContext?.runAsUser, 0, `${where}: runAsUser 0`);
    assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
    assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
    assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: capabilities.drop`);
    assert.equal(sc.capabilities?.add, undefined, `${where}: capabilities.add`);
    assert.equal(pod.automountServiceAccountToken, false, `${where}: service account token mounted`);
  }
});

test('every ratewarden container has memory limits, requests, a writable /tmp and an image pinned to a version', () => {
  for (const { where, c } of everyContainer().filter((x) => x.c.name !== 'app')) {
    assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${where}: requests`);
    assert.ok(c.resources?.limits?.memory, `${where}: memory limit`);
    assert.ok(c.volumeMounts?.some((m) => m.mountPath === '/tmp'), `${where}: /tmp`);
    assert.match(c.image, /:(\d+\.\d+\.\d+)$|@sha256:/, `${where}: image ${c.image}`);
  }
});

test('no Service of either chart exposes the sidecar admin port', () => {
  for (const [chart, files] of [[CHARTS.analyzer, ANALYZER_VALUES], [CHARTS.example, [null, ...EXAMPLE_VALUES]]] as const) {
    for (const file of files) {
      for (const svc of findAll(render(chart, file ? { values: [file] } : {}), 'Service') as Array<K8sObject & { spec: { ports: Array<{ port: number; targetPort: string | number }> } }>) {
        for (const p of svc.spec.ports) assert.ok(p.targetPort !== 'rw-admin' && p.targetPort !== 9091 && p.port !== 9091, `${svc.metadata.name} exposes the admin port (${file})`);
      }
    }
  }
});

// --- versions ------------------------------------------------------------------------------------

test('the charts, the sidecar default image and package.json agree on the ratewarden version', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const chart = (dir: string) => parseYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string; dependencies?: Array<{ name: string; version: string }> };
  const analyzer = chart(CHARTS.analyzer);
  const library = chart(CHARTS.sidecar);
  assert.equal(analyzer.appVersion, pkg.version);
  assert.equal(library.appVersion, pkg.version);
  for (const dependent of [analyzer, chart(CHARTS.example)]) {
    assert.equal(dependent.dependencies?.find((d) => d.name === 'ratewarden-sidecar')?.version, library.version);
  }
  const sidecar = find<Workload>(render(CHARTS.example), 'Deployment').spec.template.spec.containers.find((c) => c.name === 'ratewarden')!;
  assert.equal(sidecar.image, `ratewarden/ratewarden:${pkg.version}`);
  const analyzerImage = find<Workload>(render(CHARTS.analyzer, { values: ['minimal.yaml'] }), 'Deployment').spec.template.spec.containers[0]!.image;
  assert.equal(analyzerImage, `ratewarden/ratewarden:${pkg.version}`);
});
