/**
 * Driving the helm binary from tests: `helm lint` and `helm template` over the charts in helm/,
 * with the rendered manifests parsed into objects. The binary comes from HELM_BIN (.infra.env,
 * written by `npm run infra:up -- --helm`) or .cache/bin/helm; a missing binary FAILS the test
 * with the command that installs it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT, infraEnv } from '../helpers/infra.js';

export const CHARTS = {
  analyzer: join(ROOT, 'helm', 'ratewarden'),
  sidecar: join(ROOT, 'helm', 'ratewarden-sidecar'),
  example: join(ROOT, 'helm', 'example-service'),
} as const;

export const VALUES_DIR = join(ROOT, 'test', 'helm', 'values');

/** Every values file of the analyzer chart that the suites render (besides the chart defaults). */
export const ANALYZER_VALUES = ['minimal.yaml', 'production.yaml', 'cluster-redis.yaml', 'tls.yaml', 'existing-secret.yaml'];
/** Values files of the example service chart. */
export const EXAMPLE_VALUES = ['service-production.yaml', 'service-cluster-tls.yaml', 'service-disabled.yaml'];

/** Kubernetes version the templates are rendered for (helm built without release ldflags defaults to 1.20). */
export const KUBE_VERSION = '1.31.0';

let cachedBin: string | null = null;

export function helmBin(): string {
  if (cachedBin) return cachedBin;
  const candidates = [infraEnv().HELM_BIN, join(ROOT, '.cache', 'bin', 'helm')].filter((p): p is string => Boolean(p));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `helm is not installed (looked at ${candidates.join(', ')}): run \`npm run infra:up -- --helm\` ` +
        '(or `GOBIN=$PWD/.cache/bin go install helm.sh/helm/v4/cmd/helm@v4.3.2`)',
    );
  }
  cachedBin = found;
  return found;
}

// helm must not read or write the user's helm config, cache or repositories
const helmHome = mkdtempSync(join(tmpdir(), 'rw-helm-home-'));
process.on('exit', () => rmSync(helmHome, { recursive: true, force: true }));

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[]): HelmResult {
  const r = spawnSync(helmBin(), [...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: helmHome,
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    },
  });
  if (r.error) throw new Error(`helm ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => !l.includes('found symbolic link')).join('\n') };
}

export interface RenderOptions {
  readonly values?: readonly string[];
  readonly set?: Readonly<Record<string, string>>;
  readonly release?: string;
  readonly namespace?: string;
}

function valuesArgs(opts: RenderOptions): string[] {
  const args: string[] = [];
  for (const v of opts.values ?? []) args.push('--values', v.startsWith('/') ? v : join(VALUES_DIR, v));
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push('--set', `${k}=${v}`);
  return args;
}

/** A Kubernetes object as rendered (plain JSON). */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: unknown };

/** `helm template`: the raw output (throws with helm's message on failure). */
export function renderText(chart: string, opts: RenderOptions = {}): string {
  const r = helm(['template', opts.release ?? 'rw', chart, '--namespace', opts.namespace ?? 'ratewarden', '--kube-version', KUBE_VERSION, ...valuesArgs(opts)]);
  if (r.status !== 0) throw new Error(`helm template ${chart} failed:\n${r.stderr}`);
  return r.stdout;
}

/** `helm template` parsed into objects (empty documents dropped). */
export function render(chart: string, opts: RenderOptions = {}): K8sObject[] {
  const docs = parseAllDocuments(renderText(chart, opts));
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj) objects.push(obj);
  }
  return objects;
}

/** `helm template` expected to fail: returns helm's error text. */
export function renderError(chart: string, opts: RenderOptions = {}): string {
  const r = helm(['template', opts.release ?? 'rw', chart, '--kube-version', KUBE_VERSION, ...valuesArgs(opts)]);
  if (r.status === 0) throw new Error(`helm template ${chart} succeeded but was expected to fail`);
  return r.stderr;
}

export function lint(chart: string, opts: RenderOptions = {}): HelmResult {
  return helm(['lint', '--strict', chart, '--kube-version', KUBE_VERSION, ...valuesArgs(opts)]);
}

export function find<T = K8sObject>(objects: readonly K8sObject[], kind: string, name?: string): T {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found as T;
}

export function findAll(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

// Minimal shapes of what the tests read from rendered objects.
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}
export interface Probe { httpGet?: { path: string; port: number | string } }
export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] } };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
export interface Volume {
  name: string;
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  secret?: { secretName: string; items?: Array<{ key: string; path: string }> };
  emptyDir?: Record<string, unknown>;
}
export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
}
export interface Workload extends K8sObject {
  spec: { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec }; replicas?: number };
}

export function podSpec(objects: readonly K8sObject[]): PodSpec {
  return find<Workload>(objects, 'Deployment').spec.template.spec;
}

export function container(objects: readonly K8sObject[], name: string): Container {
  const c = podSpec(objects).containers.find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}
