/**
 * A policy file written in place by a writer that pauses mid-write (longer than the 100 ms
 * debounce) must not have its partial content applied, even when the cut falls on a rule boundary
 * and the prefix is a valid policy with fewer rules: the watcher applies a file only once two
 * reads some time apart agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../../../models/policy/index.js';
import { PolicyFileWatcher } from '../../../sidecar/reload.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { silentLogger } from '../../../sidecar/log.js';
import { tempDir, waitFor } from '../../helpers/proc.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const head = 'version: 1\nrules:\n  - { id: a, key: [ip], algorithm: fixed-window, limit: 5, window: 1m }\n';
const running = head + '  - { id: b, key: [ip], algorithm: fixed-window, limit: 50, window: 1h }\n';
// the new file: three rules; its first line and first rule alone are a valid policy of one rule
const prefix = 'version: 1\nrules:\n  - { id: a, key: [ip], algorithm: fixed-window, limit: 6, window: 1m }\n';
const rest = '  - { id: b, key: [ip], algorithm: fixed-window, limit: 60, window: 1h }\n  - { id: c, key: [ip], algorithm: fixed-window, limit: 600, window: 1d }\n';

test('a policy file written in two parts 300 ms apart is applied whole, never its valid prefix', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, running);
  const applied: Policy[] = [];
  const metrics = createSidecarMetrics();
  // the sidecar's own settings: default debounce (100 ms); the poll off so only the watch counts
  const w = new PolicyFileWatcher({ file, initialText: running, apply: (p) => void applied.push(p), metrics, logger: silentLogger(), pollMs: 0 });
  w.start();
  try {
    writeFileSync(file, prefix); // an editor or script writing in place, then pausing
    await sleep(300);
    appendFileSync(file, rest);
    await waitFor(() => applied.length >= 1, 'the whole file applied', 10_000);
    await sleep(1_500); // anything still pending
    assert.deepEqual(
      applied.map((p) => p.rules.map((r) => r.id).join(',')),
      ['a,b,c'],
      'only the complete file (three rules) was applied',
    );
    assert.equal(applied[0]!.rules[0]!.limit, 6);
    assert.equal(w.reloads, 1);
    assert.equal(w.errors, 0);
  } finally {
    w.close();
  }
});

test('a prefix that stays as it is is applied once it is stable (the pause alone does not block a reload)', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, running);
  const applied: Policy[] = [];
  const w = new PolicyFileWatcher({ file, initialText: running, apply: (p) => void applied.push(p), logger: silentLogger(), pollMs: 0 });
  w.start();
  try {
    const t0 = Date.now();
    writeFileSync(file, prefix);
    await waitFor(() => applied.length === 1, 'the new file applied', 10_000);
    const ms = Date.now() - t0;
    assert.equal(applied[0]!.rules.length, 1);
    assert.ok(ms < 3_000, `applied after ${ms} ms`);
  } finally {
    w.close();
  }
});
