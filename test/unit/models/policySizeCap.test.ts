/**
 * A policy file over the documented 4 MiB cap is refused before it is parsed (parsing costs about
 * a second per MB on the event loop), with an error naming its size and the cap — by parsePolicy,
 * by loadPolicyFile (the analyzer and `ratewarden check`) and so by the CLI. The largest realistic
 * policy (tens of thousands of clients entries) is well under the cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolicyFile, parsePolicy, type ParseResult } from '../../../models/policy/index.js';
import { ErrorCodes } from '../../../models/errors.js';
import { tempDir } from '../../helpers/proc.js';
import { cli } from '../cli/run.js';

const CAP = 4 * 1024 * 1024;
/** A valid policy of n clients entries (about 60 bytes each, raw API keys as real files have them). */
const withClients = (n: number): string =>
  'version: 1\nidentity: { apiKey: {} }\ntiers: { free: {}, pro: {} }\nrules:\n  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 100, window: 1m }\nclients:\n' +
  Array.from({ length: n }, (_, i) => `  "apiKey:${'k'.repeat(32)}${String(i).padStart(8, '0')}": { tier: pro }`).join('\n') +
  '\n';
/** A valid policy of at least `bytes` bytes. */
const atLeast = (bytes: number): string => withClients(Math.ceil(bytes / 60));

function sizeError(r: ParseResult): string {
  assert.equal(r.ok, false, 'expected the oversized policy to be refused');
  if (r.ok) return '';
  assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
  const e = r.errors[0]!;
  assert.equal(e.code, ErrorCodes.POLICY_FILE);
  return e.message;
}

test('parsePolicy refuses a policy over the 4 MiB cap before parsing it, naming its size and the cap', () => {
  const text = atLeast(5 * 1024 * 1024);
  const bytes = Buffer.byteLength(text);
  const t0 = performance.now();
  const message = sizeError(parsePolicy(text));
  const ms = performance.now() - t0;
  assert.ok(message.includes(String(bytes)), message);
  assert.match(message, /4 MiB/);
  assert.ok(message.includes(String(CAP)), message);
  assert.ok(ms < 500, `refusing took ${ms.toFixed(0)} ms: the file was parsed`);
});

test('the cap counts bytes, not characters (multi-byte text just under 4 Mi characters is over it)', () => {
  const text = 'version: 1\nrules: []\n# ' + 'é'.repeat(CAP / 2 + 10) + '\n';
  assert.ok(text.length < CAP);
  assert.match(sizeError(parsePolicy(text)), /over the 4 MiB cap/);
});

test('a policy of exactly the cap is not refused for its size', () => {
  const head = 'version: 1\nrules: []\n';
  const line = '#' + 'x'.repeat(99) + '\n';
  let text = head + line.repeat(Math.floor((CAP - head.length) / line.length));
  text += '#'.repeat(CAP - Buffer.byteLength(text) - 1) + '\n';
  assert.equal(Buffer.byteLength(text), CAP);
  const r = parsePolicy(text);
  assert.equal(r.ok, true, r.ok ? '' : JSON.stringify(r.errors));
});

test('the largest realistic policy (40 000 clients entries) is well under the cap and parses', () => {
  const text = withClients(40_000);
  assert.ok(Buffer.byteLength(text) < CAP * 0.75, `${Buffer.byteLength(text)} bytes`);
  const r = parsePolicy(text);
  assert.equal(r.ok, true, r.ok ? '' : JSON.stringify(r.errors.slice(0, 3)));
});

test('loadPolicyFile (analyzer, ratewarden check) refuses an oversized file without parsing it', () => {
  const file = join(tempDir(), 'policy.yaml');
  const text = atLeast(20 * 1024 * 1024);
  writeFileSync(file, text);
  const t0 = performance.now();
  const message = sizeError(loadPolicyFile(file));
  const ms = performance.now() - t0;
  assert.ok(message.includes(String(Buffer.byteLength(text))), message);
  assert.match(message, /over the 4 MiB cap/);
  assert.ok(ms < 1_000, `refusing took ${ms.toFixed(0)} ms: the file was parsed`);
});

test('ratewarden check on an oversized file exits 2 naming its size and the cap', async () => {
  const file = join(tempDir(), 'policy.yaml');
  const text = atLeast(20 * 1024 * 1024);
  writeFileSync(file, text);
  const r = await cli(['check', file], { timeoutMs: 15_000 });
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(String(Buffer.byteLength(text))), r.stderr);
  assert.match(r.stderr, /over the 4 MiB cap/);
  assert.match(r.stderr, /RW_POLICY_FILE/);
});
