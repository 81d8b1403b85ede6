/**
 * Offline validation of rendered Kubernetes objects, in two passes:
 *  1. kubernetes-models (the Kubernetes OpenAPI schemas compiled to validators; the Prometheus
 *     Operator CRDs from @kubernetes-models/prometheus-operator): types, required fields, enums,
 *     formats.
 *  2. Unknown fields: the OpenAPI schemas allow extra properties, so a misspelt field
 *     (`readinesProbe`) would pass 1 and be dropped by the API server. Each object is written as
 *     an object literal typed with the same package's interface (IDeployment, …) and type-checked
 *     by the TypeScript compiler, whose excess-property check rejects any field the API does not
 *     have, at any depth.
 */
import ts from 'typescript';
import { join } from 'node:path';
import { ROOT } from '../helpers/infra.js';
import type { K8sObject } from './helm.js';

interface KindInfo {
  readonly module: string;
  readonly iface: string;
}

/** apiVersion/kind → module and interface; an object of any other kind fails validation. */
const KINDS: Record<string, KindInfo> = {
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', iface: 'IDeployment' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', iface: 'IService' },
  'v1/ServiceAccount': { module: 'kubernetes-models/v1/ServiceAccount', iface: 'IServiceAccount' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', iface: 'IConfigMap' },
  'v1/Secret': { module: 'kubernetes-models/v1/Secret', iface: 'ISecret' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1/PodDisruptionBudget', iface: 'IPodDisruptionBudget' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', iface: 'IHorizontalPodAutoscaler' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', iface: 'INetworkPolicy' },
  'monitoring.coreos.com/v1/ServiceMonitor': { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', iface: 'IServiceMonitor' },
  'monitoring.coreos.com/v1/PodMonitor': { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor', iface: 'IPodMonitor' },
};

function kindKey(obj: K8sObject): string {
  return `${obj.apiVersion}/${obj.kind}`;
}

function describe(obj: K8sObject): string {
  return `${obj.kind}/${obj.metadata?.name ?? '?'}`;
}

/** A problem with objects[index]. */
export interface ObjectError {
  readonly index: number;
  readonly message: string;
}

/** Pass 1: the kubernetes-models validators; one error per invalid object. */
export async function schemaErrors(objects: readonly K8sObject[]): Promise<ObjectError[]> {
  const errors: ObjectError[] = [];
  for (const [index, obj] of objects.entries()) {
    const info = KINDS[kindKey(obj)];
    if (!info) {
      errors.push({ index, message: `${describe(obj)}: no offline schema for ${kindKey(obj)}` });
      continue;
    }
    const mod = (await import(info.module)) as Record<string, new (data: unknown) => { validate(): void }>;
    const Model = mod[obj.kind];
    if (!Model) throw new Error(`${info.module} exports no ${obj.kind}`);
    try {
      new Model(obj).validate();
    } catch (err) {
      errors.push({ index, message: `${describe(obj)}: ${(err as Error).message}` });
    }
  }
  return errors;
}

/** Pass 2: unknown or mistyped fields, via TypeScript's excess-property check. */
export function fieldErrors(objects: readonly K8sObject[]): ObjectError[] {
  const file = join(ROOT, 'test', 'helm', '__rendered_objects__.ts');
  const imports = new Map<string, string>();
  const lines: string[] = [];
  const starts: Array<{ line: number; index: number }> = [];
  const errors: ObjectError[] = [];
  objects.forEach((obj, i) => {
    const info = KINDS[kindKey(obj)];
    if (!info) {
      errors.push({ index: i, message: `${describe(obj)}: no interface for ${kindKey(obj)}` });
      return;
    }
    const alias = `T${imports.size}`;
    if (![...imports.values()].includes(info.module)) imports.set(alias, info.module);
    const used = [...imports.entries()].find(([, m]) => m === info.module)![0];
    starts.push({ line: lines.length, index: i });
    lines.push(...`export const o${i}: ${used}.${info.iface} = ${JSON.stringify(obj, null, 2)};`.split('\n'));
  });
  const header = [...imports.entries()].map(([alias, module]) => `import type * as ${alias} from '${module}';`);
  const source = [...header, ...lines].join('\n') + '\n';
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file?.fileName !== file || d.start === undefined) {
      errors.push({ index: -1, message });
      continue;
    }
    const line = d.file.getLineAndCharacterOfPosition(d.start).line - header.length;
    const owner = [...starts].reverse().find((s) => s.line <= line);
    const text = source.split('\n')[line + header.length]?.trim();
    const index = owner?.index ?? -1;
    errors.push({ index, message: `${index >= 0 ? describe(objects[index]!) : '?'}: ${message} (at ${text})` });
  }
  return errors;
}

/** Both passes; [] when every object is valid. */
export async function validateObjects(objects: readonly K8sObject[]): Promise<ObjectError[]> {
  return [...(await schemaErrors(objects)), ...fieldErrors(objects)];
}
