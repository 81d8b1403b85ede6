/**
 * RW_TF_BACKEND and the start-up log line: `wasm`/`cpu` force a backend, anything else (a typo, or
 * `tensorflow`, the native backend's name) chooses automatically — and the log line says the value
 * was not understood instead of calling the result "preferred".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const backend = fileURLToPath(new URL('../../../models/ml/backend.ts', import.meta.url));

function startupLine(value: string): string {
  const script = `const { loadTf } = await import(${JSON.stringify(backend)}); await loadTf((line) => console.log(line));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, RW_TF_BACKEND: value }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('an RW_TF_BACKEND value that is not auto, wasm or cpu is said so in the backend line, not taken for a preference', () => {
  const line = startupLine('tensorflw');
  assert.match(line, /^tensorflow\.js backend: (tensorflow|wasm|cpu) /);
  assert.match(line, /RW_TF_BACKEND="tensorflw" is not auto, wasm or cpu: chosen automatically/);
  assert.doesNotMatch(line, /preferred/);
  // a forced backend is used and logged as it was
  assert.match(startupLine('cpu'), /^tensorflow\.js backend: cpu \(requested\)$/);
});
