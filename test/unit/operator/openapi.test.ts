import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOpenApiDocument } from '../../../analyzer/api/openapi.js';
import { ROUTES } from '../../../analyzer/api/routes.js';

const doc = buildOpenApiDocument() as { openapi: string; paths: Record<string, Record<string, { operationId: string; parameters: Array<{ name: string; in: string }>; responses: Record<string, unknown>; requestBody?: unknown }>> };

test('the document is OpenAPI 3.1 and documents every route of the API', () => {
  assert.equal(doc.openapi, '3.1.0');
  for (const r of ROUTES) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const op = doc.paths[path]?.[r.method.toLowerCase()];
    assert.ok(op, `${r.method} ${path} is missing`);
    assert.equal(op.operationId, r.id);
  }
});

test('the contract endpoints of the issue are all there', () => {
  const expected = [
    'get /api/anomalies',
    'get /api/anomalies/{id}',
    'post /api/anomalies/{id}/confirm',
    'post /api/anomalies/{id}/dismiss',
    'post /api/anomalies/{id}/approve',
    'get /api/blocks',
    'post /api/blocks',
    'delete /api/blocks',
    'get /api/overrides',
    'post /api/overrides',
    'delete /api/overrides',
    'get /api/load',
    'get /api/clients/{key}',
  ];
  for (const e of expected) {
    const [method, path] = e.split(' ');
    assert.ok(doc.paths[path!]?.[method!], e);
  }
});

test('path parameters are required, writes document 403, and inputs document 400', () => {
  const get = doc.paths['/api/anomalies/{id}']!.get!;
  assert.deepEqual(get.parameters.map((p) => [p.name, p.in]), [['id', 'path']]);
  assert.ok(doc.paths['/api/blocks']!.post!.responses['403']);
  assert.ok(doc.paths['/api/blocks']!.post!.responses['400']);
  assert.ok(doc.paths['/api/blocks']!.post!.requestBody);
  assert.equal(doc.paths['/api/blocks']!.get!.responses['403'], undefined);
});

test('the list query documents status, client, since, limit and cursor', () => {
  const names = doc.paths['/api/anomalies']!.get!.parameters.map((p) => p.name).sort();
  assert.deepEqual(names, ['client', 'cursor', 'limit', 'since', 'status']);
});
