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
import { CHARTS, container, find, findAll, podSpec, render, type Container, type K8sObject, type Workload } from './helm.js';
import { validateObjects } from './k8sValidate.js';

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
  assert.deepEqual(envNames(sidecar), ['RW_POD', 'RW_SERVICE', 'RW_DRAIN_SECONDS', 'RW_SHUTDOWN_DELAY']);
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
