import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../../../models/policy/index.js';
import { PolicyFileWatcher } from '../../../sidecar/reload.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { silentLogger } from '../../../sidecar/log.js';
import { tempDir, waitFor } from '../../helpers/proc.js';

const policyText = (limit: number): string => `version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: ${limit}, window: 1m }\n`;

function watcherFor(file: string, initial: string) {
  const applied: Policy[] = [];
  const metrics = createSidecarMetrics();
  const w = new PolicyFileWatcher({ file, initialText: initial, apply: (p) => void applied.push(p), metrics, logger: silentLogger(), debounceMs: 20, pollMs: 0 });
  w.start();
  return { w, applied, metrics };
}

test('an edited policy file is applied', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const { w, applied } = watcherFor(file, policyText(5));
  writeFileSync(file, policyText(7));
  await waitFor(() => applied.length === 1, 'reload', 5_000);
  assert.equal(applied[0]!.rules[0]!.limit, 7);
  w.close();
});

test('a bad new file keeps the old policy, and its errors are counted once', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const { w, applied, metrics } = watcherFor(file, policyText(5));
  writeFileSync(file, 'version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: -1, window: 1x }\n');
  await waitFor(() => w.errors === 1, 'rejection', 5_000);
  await w.check(); // the same bad content again is not a second error
  assert.equal(w.errors, 1);
  assert.equal(applied.length, 0);
  assert.ok(w.lastErrors.some((e) => e.path.startsWith('rules[0]')));
  assert.equal((await metrics.policyReloadErrors.get()).values[0]!.value, 1);
  // fixing the file applies it
  writeFileSync(file, policyText(9));
  await waitFor(() => applied.length === 1, 'reload after fix', 5_000);
  assert.equal(applied[0]!.rules[0]!.limit, 9);
  w.close();
});

test('a Kubernetes ConfigMap update (..data symlink swap) is applied', async () => {
  // <dir>/policy.yaml -> ..data/policy.yaml, ..data -> ..v1 ; an update creates ..v2 and renames a new ..data link over the old one
  const dir = tempDir();
  mkdirSync(join(dir, '..v1'));
  writeFileSync(join(dir, '..v1', 'policy.yaml'), policyText(5));
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
  const { w, applied } = watcherFor(join(dir, 'policy.yaml'), policyText(5));
  mkdirSync(join(dir, '..v2'));
  writeFileSync(join(dir, '..v2', 'policy.yaml'), policyText(11));
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  await waitFor(() => applied.length === 1, 'reload after symlink swap', 5_000);
  assert.equal(applied[0]!.rules[0]!.limit, 11);
  w.close();
});

test('an apply that throws counts as a rejected reload', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const w = new PolicyFileWatcher({
    file,
    initialText: policyText(5),
    apply: () => {
      throw new Error('JWT secret variable missing');
    },
    logger: silentLogger(),
    pollMs: 0,
  });
  writeFileSync(file, policyText(6));
  await w.check();
  assert.equal(w.errors, 1);
  assert.match(w.lastErrors[0]!.message, /JWT secret/);
  w.close();
});

test('an apply that failed is retried on the next check and counted once', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  let keyMounted = false;
  const applied: Policy[] = [];
  const w = new PolicyFileWatcher({
    file,
    initialText: policyText(5),
    apply: (p) => {
      if (!keyMounted) throw new Error('cannot read the JWT public key file');
      applied.push(p);
    },
    logger: silentLogger(),
    pollMs: 0,
  });
  writeFileSync(file, policyText(6));
  await w.check();
  await w.check(); // still missing: not counted again
  assert.equal(w.errors, 1);
  assert.equal(applied.length, 0);
  keyMounted = true; // the other ConfigMap arrives; the policy file itself did not change
  await w.check();
  assert.equal(applied.length, 1);
  assert.equal(applied[0]!.rules[0]!.limit, 6);
  assert.equal(w.errors, 1);
  w.close();
});

test('a sidecar hands every policy its hot reload applied to onPolicy (the demo\'s analyzer follows the file)', async () => {
  const { startSidecar } = await import('../../../sidecar/server.js');
  const { parsePolicy } = await import('../../../models/policy/index.js');
  const { startStubUpstream } = await import('../../helpers/proc.js');
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const parsed = parsePolicy(policyText(5));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const up = await startStubUpstream();
  const seen: Policy[] = [];
  const sc = await startSidecar({ policy: parsed.policy, policyFile: file, policyText: policyText(5), policyPollMs: 50, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), service: 's', drainSeconds: 1, onPolicy: (p) => void seen.push(p) });
  try {
    writeFileSync(file, policyText(8));
    await waitFor(() => seen.length === 1, 'onPolicy after the reload', 5_000);
    assert.equal(seen[0]!.rules[0]!.limit, 8);
  } finally {
    await sc.close();
    await up.close();
  }
});
