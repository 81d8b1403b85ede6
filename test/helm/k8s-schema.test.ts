/**
 * Every object the charts render, for every values file, is valid against the Kubernetes schemas
 * (offline: kubernetes-models and @kubernetes-models/prometheus-operator), with no unknown field.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ANALYZER_VALUES, CHARTS, EXAMPLE_VALUES, render, type K8sObject } from './helm.js';
import { validateObjects, type ObjectError } from './k8sValidate.js';

interface Case {
  readonly label: string;
  readonly objects: K8sObject[];
}

const cases: Case[] = [
  { label: 'the analyzer chart with minimal values', objects: render(CHARTS.analyzer, { values: ['minimal.yaml'] }) },
  ...ANALYZER_VALUES.map((file) => ({ label: `the analyzer chart with ${file}`, objects: render(CHARTS.analyzer, { values: [file] }) })),
  { label: 'the example service chart with its default values', objects: render(CHARTS.example) },
  ...EXAMPLE_VALUES.map((file) => ({ label: `the example service chart with ${file}`, objects: render(CHARTS.example, { values: [file] }) })),
];

// one TypeScript program for all objects (≈1 s), errors handed back to each case
const errorsByCase = new Map<string, ObjectError[]>();
before(async () => {
  const all = cases.flatMap((c) => c.objects.map((obj) => ({ label: c.label, obj })));
  const errors = await validateObjects(all.map((x) => x.obj));
  for (const c of cases) errorsByCase.set(c.label, []);
  for (const e of errors) {
    const owner = all[e.index]?.label;
    if (owner) errorsByCase.get(owner)!.push(e);
    else for (const c of cases) errorsByCase.get(c.label)!.push(e);
  }
});

for (const c of cases) {
  test(`every object rendered by ${c.label} is a valid Kubernetes object with no unknown field`, () => {
    assert.ok(c.objects.length > 0, 'rendered nothing');
    assert.deepEqual(errorsByCase.get(c.label)!.map((e) => e.message), []);
  });
}

const deployment = (): K8sObject => structuredClone(render(CHARTS.analyzer, { values: ['minimal.yaml'] }).find((o) => o.kind === 'Deployment')!);

test('the validator rejects a misspelt field deep inside a Deployment', async () => {
  const obj = deployment() as K8sObject & { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
  obj.spec.template.spec.containers[0]!.readinesProbe = { httpGet: { path: '/healthz', port: 9090 } };
  const errors = await validateObjects([obj]);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /readinesProbe/);
});

test('the validator rejects a wrongly typed field', async () => {
  const obj = deployment() as K8sObject & { spec: { template: { spec: { containers: Array<{ ports: Array<Record<string, unknown>> }> } } } };
  obj.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'http';
  const errors = await validateObjects([obj]);
  assert.ok(errors.some((e) => /containerPort/.test(e.message)), JSON.stringify(errors));
});

test('the validator rejects a kind it has no schema for', async () => {
  const errors = await validateObjects([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }]);
  assert.ok(errors.length > 0);
  assert.match(errors[0]!.message, /no offline schema/);
});
