/**
 * Reading a policy file, bounded. Every reader of a policy file (the sidecar and the analyzer at
 * start, the sidecar's hot reload, the analyzer's SIGHUP reload, `ratewarden check`, the demo) goes
 * through here, so none reads more than MAX_POLICY_BYTES + 1 bytes of it:
 *
 *  - only a regular file is read (symlinks are followed: Kubernetes mounts a ConfigMap as
 *    `policy.yaml -> ..data/policy.yaml`, `..data -> ..2024_…`); a FIFO, a device (/dev/zero), a
 *    socket or a directory is refused as "not a regular file" before it is opened — a FIFO with no
 *    writer would block open() for good, /dev/zero would be read until memory ran out — and opened
 *    with O_NONBLOCK, then checked again on the descriptor, in case one was swapped in between;
 *  - a file whose size is over the cap is refused by its size, unread;
 *  - the read itself stops at cap + 1 bytes, so a file that grows while it is read, or whose size
 *    says less than it holds (files in /proc say 0), is refused after at most cap + 1 bytes.
 */
import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { ErrorCodes } from '../errors.js';
import type { PolicyError } from './types.js';

/**
 * The largest policy file accepted, in bytes (4 MiB). Parsing costs about a second per MB on the
 * caller's event loop (a sidecar's, during a hot reload); a file of 40 000 clients entries with raw
 * API keys is under 3 MiB. A larger one is refused before it is parsed.
 */
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;

/**
 * The error of a policy of `bytes` bytes, over MAX_POLICY_BYTES; `atLeast`: the file's size said
 * less, and `bytes` is what was read of it before the read stopped (it grew, or its size lies).
 */
export function policyTooLarge(bytes: number, atLeast = false): PolicyError {
  const mib = (bytes / (1024 * 1024)).toFixed(1);
  const size = atLeast ? `over ${mib} MiB (at least ${bytes} bytes; its size said less)` : `${mib} MiB (${bytes} bytes)`;
  return {
    code: ErrorCodes.POLICY_FILE,
    path: '',
    message: `the policy is ${size}, over the 4 MiB cap (${MAX_POLICY_BYTES} bytes) on policy files; refused without parsing it`,
  };
}

export type PolicyFileRead =
  /** The whole file, at most MAX_POLICY_BYTES. `stat` is of the descriptor it was read from. */
  | { readonly kind: 'text'; readonly text: string; readonly bytes: number; readonly stat: Stats }
  /** Over the cap: `bytes` is its size, or (`atLeast`) the bytes read when its size said less. */
  | { readonly kind: 'too-large'; readonly bytes: number; readonly atLeast: boolean; readonly stat: Stats }
  /** Not there, not readable, or not a regular file; `message` names the file and the reason. */
  | { readonly kind: 'unreadable'; readonly message: string; readonly code: string | undefined };

/** O_NONBLOCK where the platform has it: opening a FIFO swapped in after the check does not block. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
/** First read buffer for a file whose size is unknown or changing; grows up to cap + 1. */
const MIN_BUFFER = 64 * 1024;

/** What a file that is not a regular one is, in words. */
function kindOf(s: Stats): string {
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  if (s.isDirectory()) return 'a directory';
  return 'not a file';
}

function notRegular(file: string, s: Stats): PolicyFileRead {
  return { kind: 'unreadable', message: `cannot read ${file}: not a regular file (${kindOf(s)}); a policy file must be a regular file or a symlink to one`, code: 'RW_NOT_REGULAR' };
}

function unreadable(file: string, err: unknown): PolicyFileRead {
  const code = (err as NodeJS.ErrnoException).code;
  return { kind: 'unreadable', message: `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, code };
}

/** A buffer for a file of `size` bytes: room for one byte more (to see growth), at most cap + 1. */
function bufferFor(size: number): Buffer {
  return Buffer.allocUnsafe(Math.min(MAX_POLICY_BYTES + 1, Math.max(MIN_BUFFER, size + 1)));
}

/** The buffer, doubled (at most cap + 1), keeping its first `used` bytes. */
function grow(buf: Buffer, used: number): Buffer {
  const next = Buffer.allocUnsafe(Math.min(MAX_POLICY_BYTES + 1, buf.length * 2));
  buf.copy(next, 0, 0, used);
  return next;
}

/**
 * The first line of `bytes` that is not UTF-8, or 0 when all of it is. A policy saved as Latin-1 or
 * UTF-16 was read with U+FFFD in place of its bytes and accepted: a path glob `/café/**` became
 * `/caf\uFFFD/**`, a rule that never matches, and `check` said ok.
 */
/** The `code` of a read refused because the file is not UTF-8: a bad policy, not a read that may work next time. */
export const NOT_UTF8 = 'RW_NOT_UTF8';

function firstNonUtf8Line(bytes: Buffer): number {
  if (isUtf8(bytes)) return 0;
  let line = 1;
  for (let start = 0; start < bytes.length; line++) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl < 0 ? bytes.length : nl;
    if (!isUtf8(bytes.subarray(start, end))) return line;
    start = end + 1;
  }
  return line;
}

/** The result of a bounded read of `got` bytes of `file` (the size now: `sizeNow`). */
function result(file: string, buf: Buffer, got: number, s: Stats, sizeNow: number): PolicyFileRead {
  if (got > MAX_POLICY_BYTES) {
    // it grew while being read, or its size said less than it holds
    return sizeNow > MAX_POLICY_BYTES ? { kind: 'too-large', bytes: sizeNow, atLeast: false, stat: s } : { kind: 'too-large', bytes: got, atLeast: true, stat: s };
  }
  const bad = firstNonUtf8Line(buf.subarray(0, got));
  if (bad > 0) return { kind: 'unreadable', message: `cannot read ${file}: not UTF-8 text: line ${bad} holds a byte sequence that is not UTF-8 (save the policy as UTF-8)`, code: NOT_UTF8 };
  return { kind: 'text', text: buf.toString('utf8', 0, got), bytes: got, stat: s };
}

/** Reads a policy file, at most MAX_POLICY_BYTES + 1 bytes of it, from a regular file only. Never throws. */
export function readPolicyFileSync(file: string): PolicyFileRead {
  try {
    // not opened at all when it is not a regular file (open() on a FIFO waits for a writer)
    const before = statSync(file);
    if (!before.isFile()) return notRegular(file, before);
    const fd = openSync(file, OPEN_FLAGS);
    try {
      const s = fstatSync(fd);
      if (!s.isFile()) return notRegular(file, s);
      if (s.size > MAX_POLICY_BYTES) return { kind: 'too-large', bytes: s.size, atLeast: false, stat: s };
      let buf = bufferFor(s.size);
      let got = 0;
      for (;;) {
        if (got === buf.length) {
          if (got > MAX_POLICY_BYTES) break;
          buf = grow(buf, got);
        }
        const n = readSync(fd, buf, got, buf.length - got, got);
        if (n === 0) break;
        got += n;
      }
      return result(file, buf, got, s, got > MAX_POLICY_BYTES ? fstatSync(fd).size : got);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return unreadable(file, err);
  }
}

/** readPolicyFileSync, without blocking the event loop (the sidecar's hot reload). Never rejects. */
export async function readPolicyFile(file: string): Promise<PolicyFileRead> {
  try {
    const before = await stat(file);
    if (!before.isFile()) return notRegular(file, before);
    const fh = await open(file, OPEN_FLAGS);
    try {
      const s = await fh.stat();
      if (!s.isFile()) return notRegular(file, s);
      if (s.size > MAX_POLICY_BYTES) return { kind: 'too-large', bytes: s.size, atLeast: false, stat: s };
      let buf = bufferFor(s.size);
      let got = 0;
      for (;;) {
        if (got === buf.length) {
          if (got > MAX_POLICY_BYTES) break;
          buf = grow(buf, got);
        }
        const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return result(file, buf, got, s, got > MAX_POLICY_BYTES ? (await fh.stat()).size : got);
    } finally {
      await fh.close();
    }
  } catch (err) {
    return unreadable(file, err);
  }
}

/** The PolicyError of a read that produced no text (its code is POLICY_FILE). */
export function policyFileError(read: Exclude<PolicyFileRead, { kind: 'text' }>): PolicyError {
  if (read.kind === 'too-large') return policyTooLarge(read.bytes, read.atLeast);
  return { code: ErrorCodes.POLICY_FILE, path: '', message: read.message };
}
