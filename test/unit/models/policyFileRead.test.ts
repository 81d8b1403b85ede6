/**
 * The bounded policy file reader every command uses (models/policy/file.ts): a regular file (also
 * through a ConfigMap's symlinks) is read whole when within the 4 MiB cap; one over it is refused by
 * its size without being read; one whose size says less than it holds is read up to cap + 1 bytes
 * and no further; a FIFO, a device or a directory is refused as not a regular file, unopened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes } from '../../../models/errors.js';
import { loadPolicyFile, MAX_POLICY_BYTES, policyFileError, readPolicyFile, readPolicyFileSync, type PolicyFileRead } from '../../../models/policy/index.js';
import { tempDir } from '../../helpers/proc.js';

const GIB = 1024 * 1024 * 1024;
const readers: Array<[string, (file: string) => PolicyFileRead | Promise<PolicyFileRead>]> = [
  ['readPolicyFileSync', readPolicyFileSync],
  ['readPolicyFile', readPolicyFile],
];

/** A file of exactly `bytes` bytes of valid YAML (a policy, then comment lines). */
function fileOf(bytes: number): string {
  const file = join(tempDir(), 'policy.yaml');
  const head = 'version: 1\nrules: []\n';
  writeFileSync(file, head + '#'.repeat(bytes - head.length - 1) + '\n');
  return file;
}

for (const [name, read] of readers) {
  test(`${name}: a sparse 1 GiB file is refused by its size, unread (no memory taken)`, async () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, 'version: 1\nrules: []\n');
    truncateSync(file, GIB);
    const rss = process.memoryUsage().rss;
    const r = await read(file);
    assert.equal(r.kind, 'too-large');
    if (r.kind !== 'too-large') return;
    assert.equal(r.bytes, GIB);
    assert.equal(r.atLeast, false);
    assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, 'the file was read');
    const e = policyFileError(r);
    assert.equal(e.code, ErrorCodes.POLICY_FILE);
    assert.match(e.message, new RegExp(`\\(${GIB} bytes\\), over the 4 MiB cap \\(${MAX_POLICY_BYTES} bytes\\)`));
  });

  test(`${name}: a file of exactly the cap is read whole; one byte more is refused`, async () => {
    const ok = await read(fileOf(MAX_POLICY_BYTES));
    assert.equal(ok.kind, 'text');
    if (ok.kind === 'text') {
      assert.equal(ok.bytes, MAX_POLICY_BYTES);
      assert.equal(Buffer.byteLength(ok.text), MAX_POLICY_BYTES);
    }
    const over = await read(fileOf(MAX_POLICY_BYTES + 1));
    assert.equal(over.kind, 'too-large');
    if (over.kind === 'too-large') assert.equal(over.bytes, MAX_POLICY_BYTES + 1);
  });

  test(`${name}: a ConfigMap mount (policy.yaml -> ..data/policy.yaml, ..data -> ..v1) is read through its symlinks`, async () => {
    const dir = tempDir();
    mkdirSync(join(dir, '..v1'));
    const text = 'version: 1\nrules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 5, window: 1m }\n';
    writeFileSync(join(dir, '..v1', 'policy.yaml'), text);
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
    const r = await read(join(dir, 'policy.yaml'));
    assert.equal(r.kind, 'text');
    if (r.kind === 'text') assert.equal(r.text, text);
  });

  test(`${name}: a FIFO, /dev/zero (also through a symlink) and a directory are refused as not regular files, unread`, async () => {
    const dir = tempDir();
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const zero = join(dir, 'zero.yaml');
    symlinkSync('/dev/zero', zero);
    for (const [file, what] of [[fifo, 'a FIFO'], ['/dev/zero', 'a character device'], [zero, 'a character device'], [dir, 'a directory']] as const) {
      const r = await read(file);
      assert.equal(r.kind, 'unreadable', file);
      if (r.kind !== 'unreadable') continue;
      assert.ok(r.message.startsWith(`cannot read ${file}: not a regular file (${what})`), r.message);
    }
  });

  test(`${name}: a missing file is "no such file" (code ENOENT)`, async () => {
    const r = await read(join(tempDir(), 'nope.yaml'));
    assert.equal(r.kind, 'unreadable');
    if (r.kind === 'unreadable') {
      assert.equal(r.code, 'ENOENT');
      assert.match(r.message, /: no such file$/);
    }
  });

  // a regular file whose size says 0 but which holds more than the cap: the read stops at cap + 1
  test(`${name}: a file whose size says less than it holds is read up to cap + 1 bytes, no further`, async () => {
    // Linux's /proc/kallsyms: a regular file of size 0 holding several MB (a test that cannot run fails, it never skips)
    const file = '/proc/kallsyms';
    accessSync(file, constants.R_OK);
    assert.ok(statSync(file).isFile() && statSync(file).size === 0, `${file} is not a regular file of size 0 here`);
    const r = await read(file);
    assert.equal(r.kind, 'too-large', `${file} read as ${r.kind}`);
    if (r.kind !== 'too-large') return;
    assert.equal(r.bytes, MAX_POLICY_BYTES + 1);
    assert.equal(r.atLeast, true);
    assert.match(policyFileError(r).message, /at least 4194305 bytes; its size said less\), over the 4 MiB cap/);
  });
}

test('loadPolicyFile refuses a FIFO as not a regular file without opening it (it would wait for a writer)', () => {
  const fifo = join(tempDir(), 'policy.yaml');
  execFileSync('mkfifo', [fifo]);
  const r = loadPolicyFile(fifo);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors[0]!.code, ErrorCodes.POLICY_FILE);
  assert.match(r.errors[0]!.message, /not a regular file \(a FIFO\)/);
});

/** A policy that is valid but for its encoding: Latin-1 (é is the byte 0xe9) in a path glob on line 7. */
function latin1Policy(): string {
  const file = join(tempDir(), 'policy.yaml');
  const text = 'version: 1\ntiers: { free: {} }\nstore: { kind: memory }\nrules:\n  - id: cafe\n    key: [ip]\n    match: { path: "/caf\xe9/**" }\n    algorithm: fixed-window\n    limit: 5\n    window: 60s\n';
  writeFileSync(file, Buffer.from(text, 'latin1'));
  return file;
}

for (const [name, read] of readers) {
  test(`${name}: a file that is not UTF-8 (Latin-1, UTF-16) is refused naming its first bad line, not read with U+FFFD in place of its bytes`, async () => {
    const r = await read(latin1Policy());
    assert.equal(r.kind, 'unreadable');
    if (r.kind !== 'unreadable') return;
    assert.match(r.message, /^cannot read .*policy\.yaml: not UTF-8 text: line 7 holds a byte sequence that is not UTF-8/);
    const utf16 = join(tempDir(), 'policy.yaml');
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('version: 1\nrules: []\n', 'utf16le')]));
    const r16 = await read(utf16);
    assert.equal(r16.kind, 'unreadable');
    if (r16.kind === 'unreadable') assert.match(r16.message, /not UTF-8 text: line 1 /);
    // UTF-8 (with a BOM, with é and U+FFFD written as UTF-8) is read as before
    const ok = join(tempDir(), 'policy.yaml');
    writeFileSync(ok, '\uFEFFversion: 1 # café \uFFFD\nrules: []\n');
    const rOk = await read(ok);
    assert.equal(rOk.kind, 'text');
    if (rOk.kind === 'text') assert.equal(rOk.text, '\uFEFFversion: 1 # café \uFFFD\nrules: []\n');
  });
}

test('loadPolicyFile (ratewarden check) refuses a Latin-1 policy as POLICY_FILE instead of passing it with a path glob that can never match', () => {
  const r = loadPolicyFile(latin1Policy());
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0]!.code, ErrorCodes.POLICY_FILE);
  assert.match(r.errors[0]!.message, /not UTF-8 text: line 7 /);
});
