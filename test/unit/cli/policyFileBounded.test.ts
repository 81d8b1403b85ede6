/**
 * Every command that reads a policy file reads at most the 4 MiB cap + 1 byte of it, and only from a
 * regular file (a symlink to one is followed, as Kubernetes mounts a ConfigMap): a huge file is
 * refused by its size, unread, with the documented message (exit 2); a FIFO, /dev/zero or a
 * directory is refused at once as not a regular file, instead of blocking in open() (a FIFO with no
 * writer) or reading forever (/dev/zero). Before, `ratewarden sidecar` and `ratewarden demo` read
 * the whole file into memory first: a sparse 1 GiB file was read whole (1 GiB of RSS) and failed
 * with "Cannot create a string longer than …", and a FIFO hung every command at start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/proc.js';
import { cli } from './run.js';

const GIB = 1024 * 1024 * 1024;

/** A sparse file of 1 GiB: no disk space, but reading it whole would take 1 GiB of memory. */
function sparseGiB(): string {
  const file = join(tempDir(), 'policy.yaml');
  writeFileSync(file, 'version: 1\nrules: []\n');
  truncateSync(file, GIB);
  return file;
}

/** A FIFO nobody writes to: open() for reading blocks until a writer comes. */
function fifo(): { file: string; release: () => void } {
  const file = join(tempDir(), 'policy.yaml');
  execFileSync('mkfifo', [file]);
  return {
    file,
    // a reader still blocked in open() (the old code) is let go, so no process is left hanging
    release: () => {
      try {
        closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // no reader waiting (ENXIO): nothing to release
      }
    },
  };
}

const SIDECAR = (file: string): string[] => ['sidecar', '--config', file, '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
const DEMO = (file: string): string[] => ['demo', '--config', file, '--no-traffic', '--listen', '127.0.0.1:0', '--ui', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
const CHECK = (file: string): string[] => ['check', file];

for (const [name, args] of [['sidecar', SIDECAR], ['demo', DEMO], ['check', CHECK]] as const) {
  test(`ratewarden ${name} refuses a sparse 1 GiB policy file by its size, unread: exit 2 naming its size and the cap`, async () => {
    const file = sparseGiB();
    const r = await cli(args(file), { timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(String(GIB)), r.stderr);
    assert.match(r.stderr, /over the 4 MiB cap/);
    assert.doesNotMatch(r.stderr, /string longer than/);
  });

  test(`ratewarden ${name} refuses a FIFO as its policy file at once (exit 2), without waiting for a writer`, async () => {
    const f = fifo();
    try {
      const r = await cli(args(f.file), { timeoutMs: 20_000 });
      assert.equal(r.code, 2, `code ${r.code} (null: still waiting at the deadline): ${r.stderr}`);
      assert.match(r.stderr, /not a regular file/);
      assert.ok(r.stderr.includes(f.file), r.stderr);
    } finally {
      f.release();
    }
  });
}
