/**
 * A hot reload reads the policy file only when it is a regular file (also through symlinks), and at
 * most the 4 MiB cap + 1 byte of it. A FIFO put in its place used to block the reload in open()
 * for good (every later check queued behind it: no reload ever again), and /dev/zero would have been
 * read until memory ran out (its size says 0). Both now keep the running policy with a warning
 * naming the file as not a regular file, and a valid file after them is applied as usual.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Policy } from '../../../models/policy/index.js';
import { PolicyFileWatcher } from '../../../sidecar/reload.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { tempDir, waitFor } from '../../helpers/proc.js';

const policyText = (limit: number): string => `version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: ${limit}, window: 1m }\n`;

/** Resolves with whether `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

test('a FIFO or /dev/zero in place of the policy file keeps the running policy, is reported as not a regular file, and blocks nothing', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const applied: Policy[] = [];
  const w = new PolicyFileWatcher({ file, initialText: policyText(5), apply: (p) => void applied.push(p), metrics: createSidecarMetrics(), logger, debounceMs: 20, pollMs: 0, settleMs: 20 });
  const release = (): void => {
    // a reader blocked in open() (the old code) is let go, so the test process can end
    try {
      closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // not a FIFO any more, or no reader waiting
    }
  };
  try {
    rmSync(file);
    execFileSync('mkfifo', [file]);
    assert.ok(await within(w.check(), 10_000), 'the reload is still waiting on the FIFO');
    assert.equal(applied.length, 0);
    const warned = (): string => JSON.stringify(lines.filter((l) => l.msg === 'cannot read the policy file; keeping the current policy'));
    assert.match(warned(), /not a regular file/);
    assert.ok(warned().includes(file), warned());

    rmSync(file);
    symlinkSync('/dev/zero', file);
    lines.length = 0;
    assert.ok(await within(w.check(), 10_000), 'the reload is still reading /dev/zero');
    assert.equal(applied.length, 0);
    assert.match(warned(), /not a regular file/);

    // a valid file after them is applied
    rmSync(file);
    writeFileSync(file, policyText(9));
    await w.check();
    await waitFor(() => applied.length === 1, 'the fixed file applied', 10_000);
    assert.equal(applied[0]!.rules[0]!.limit, 9);
  } finally {
    release();
    w.close();
  }
});
