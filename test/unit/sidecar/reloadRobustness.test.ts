import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../../../models/policy/index.js';
import { PolicyFileWatcher } from '../../../sidecar/reload.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { silentLogger } from '../../../sidecar/log.js';
import { tempDir, waitFor } from '../../helpers/proc.js';

const policyText = (limit: number): string => `version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: ${limit}, window: 1m }\n`;
const bad = 'version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 5, window: 1x }\n';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a bad file rolled out again after a revert to the running policy is logged and counted again', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const metrics = createSidecarMetrics();
  const applied: Policy[] = [];
  const w = new PolicyFileWatcher({ file, initialText: policyText(5), apply: (p) => void applied.push(p), metrics, logger: silentLogger(), pollMs: 0 });
  writeFileSync(file, bad);
  await w.check();
  assert.equal(w.errors, 1);
  writeFileSync(file, policyText(5)); // rolled back: the running policy again
  await w.check();
  writeFileSync(file, bad); // the same bad change, rolled out a second time
  await w.check();
  assert.equal(w.errors, 2, 'the second rollout of the bad file is a second rejected reload');
  assert.equal((await metrics.policyReloadErrors.get()).values[0]!.value, 2);
  assert.equal(applied.length, 0);
  w.close();
});

test('nothing is applied once the watcher is closed, also by a check already under way', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const applied: Policy[] = [];
  const w = new PolicyFileWatcher({ file, initialText: policyText(5), apply: (p) => void applied.push(p), logger: silentLogger(), pollMs: 0 });
  writeFileSync(file, policyText(6));
  const pending = w.check(); // reading the file
  w.close(); // the sidecar shuts down meanwhile
  await pending;
  assert.equal(applied.length, 0);
  await w.check();
  assert.equal(applied.length, 0);
});

test('the watcher follows a policy directory that was removed and created again (not only the slow poll)', async () => {
  const dir = join(tempDir(), 'cfg');
  mkdirSync(dir);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyText(5));
  const applied: Policy[] = [];
  const pollMs = 1_500;
  const w = new PolicyFileWatcher({ file, initialText: policyText(5), apply: (p) => void applied.push(p), logger: silentLogger(), debounceMs: 20, pollMs });
  w.start();
  rmSync(dir, { recursive: true });
  await sleep(50);
  mkdirSync(dir);
  writeFileSync(file, policyText(7));
  await waitFor(() => applied.length === 1, 'the poll finds the new file', 3 * pollMs);
  // the directory is watched again: the next edit is seen at once, not at the next poll
  const t0 = Date.now();
  writeFileSync(file, policyText(8));
  await waitFor(() => applied.length === 2, 'the edit after the directory came back', 3 * pollMs);
  assert.equal(applied[1]!.rules[0]!.limit, 8);
  assert.ok(Date.now() - t0 < pollMs / 2, `seen after ${Date.now() - t0} ms: only by the poll`);
  w.close();
});
