/**
 * A policy file over the 4 MiB cap is refused before it is parsed: a hot reload keeps the running
 * policy, logs the size and the cap and counts it (policy_reload_errors_total) once, without
 * stalling the event loop; `ratewarden sidecar` with such a file does not start (exit 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Policy } from '../../../models/policy/index.js';
import { PolicyFileWatcher } from '../../../sidecar/reload.js';
import { createSidecarMetrics } from '../../../sidecar/metrics.js';
import { runRatewarden, tempDir, waitFor } from '../../helpers/proc.js';

const policyText = (limit: number): string => `version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: ${limit}, window: 1m }\n`;
/** A valid policy of at least `bytes` bytes: the running rule and many clients entries. */
const oversized = (bytes: number): string =>
  policyText(6) + 'tiers: { free: {}, pro: {} }\nclients:\n' + Array.from({ length: Math.ceil(bytes / 30) }, (_, i) => `  "user:u${String(i).padStart(10, '0')}": { tier: pro }`).join('\n') + '\n';

test('a reloaded policy file over the 4 MiB cap keeps the running policy, is logged and counted once, and does not stall the event loop', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const metrics = createSidecarMetrics();
  const applied: Policy[] = [];
  const w = new PolicyFileWatcher({ file, initialText: policyText(5), apply: (p) => void applied.push(p), metrics, logger, debounceMs: 20, pollMs: 0 });
  w.start();
  // the largest gap between ticks of a 10 ms timer: how long requests would have waited
  let last = performance.now();
  let worstGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worstGap = Math.max(worstGap, now - last);
    last = now;
  }, 10);
  try {
    const text = oversized(8 * 1024 * 1024);
    const bytes = Buffer.byteLength(text);
    writeFileSync(file, text);
    await waitFor(() => w.errors > 0 || applied.length > 0, 'the oversized file rejected', 60_000);
    assert.equal(applied.length, 0, 'the oversized file was applied');
    await w.check(); // the same file again is not a second error
    assert.equal(w.errors, 1);
    assert.equal(applied.length, 0);
    assert.equal((await metrics.policyReloadErrors.get()).values[0]!.value, 1);
    const message = w.lastErrors.map((e) => e.message).join('\n');
    assert.ok(message.includes(String(bytes)), message);
    assert.match(message, /over the 4 MiB cap/);
    const logged = lines.find((l) => l.msg === 'new policy rejected; keeping the previous one');
    assert.ok(logged, JSON.stringify(lines));
    assert.match(JSON.stringify(logged.errors), /over the 4 MiB cap/);
    assert.ok(worstGap < 500, `the event loop stalled for ${worstGap.toFixed(0)} ms`);
    // a valid file after it is applied as usual
    writeFileSync(file, policyText(9));
    await waitFor(() => applied.length === 1, 'the fixed file applied', 10_000);
    assert.equal(applied[0]!.rules[0]!.limit, 9);
  } finally {
    clearInterval(ticker);
    w.close();
  }
});

test('ratewarden sidecar with a policy file over the cap does not start: exit 2 naming its size and the cap', async () => {
  const file = join(tempDir(), 'policy.yaml');
  const text = oversized(8 * 1024 * 1024);
  writeFileSync(file, text);
  const r = await runRatewarden(['sidecar', '--config', file, '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { timeoutMs: 20_000 });
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(String(Buffer.byteLength(text))), r.stderr);
  assert.match(r.stderr, /over the 4 MiB cap/);
});

test('a reloaded policy file that is not UTF-8 keeps the running policy and is logged and counted once, not warned about at every poll', async () => {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, policyText(5));
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const metrics = createSidecarMetrics();
  const applied: Policy[] = [];
  const w = new PolicyFileWatcher({ file, initialText: policyText(5), apply: (p) => void applied.push(p), metrics, logger, debounceMs: 20, pollMs: 0, settleMs: 20 });
  w.start();
  try {
    // saved as Latin-1: `é` is the single byte 0xE9
    writeFileSync(file, Buffer.concat([Buffer.from(policyText(7).replace('window: 1m }\n', 'window: 1m, match: { path: "/caf')), Buffer.from([0xe9]), Buffer.from('/**" } }\n')]));
    await waitFor(() => w.errors > 0 || applied.length > 0, 'the Latin-1 file rejected', 20_000);
    for (let i = 0; i < 3; i++) await w.check(); // polls of the same file: not a new error, not a new warning
    assert.equal(applied.length, 0, 'the Latin-1 file was applied');
    assert.equal(w.errors, 1);
    assert.equal((await metrics.policyReloadErrors.get()).values[0]!.value, 1);
    assert.match(w.lastErrors.map((e) => e.message).join('\n'), /not UTF-8 text: line 3/);
    assert.equal(lines.filter((l) => l.msg === 'new policy rejected; keeping the previous one').length, 1, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.level === 40 && l.msg !== 'new policy rejected; keeping the previous one').length, 0, JSON.stringify(lines));
    writeFileSync(file, policyText(9));
    await waitFor(() => applied.length === 1, 'the fixed file applied', 10_000);
    assert.equal(applied[0]!.rules[0]!.limit, 9);
  } finally {
    w.close();
  }
});
