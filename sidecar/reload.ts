/**
 * Hot reload of the policy file. Kubernetes mounts a ConfigMap as `<dir>/..data -> ..2024_…/`
 * with the file a symlink through `..data`; an update swaps `..data` atomically, so the file itself
 * never gets a change event. We therefore watch the directory (any event naming the file or
 * `..data`), debounce, re-read through the symlink and compare content hashes. A slow poll backs
 * fs.watch up on filesystems that drop events.
 *
 * A new file that does not parse never replaces the running policy: its errors are logged with
 * their paths and counted (`policy_reload_errors_total`), once per distinct bad content. A file
 * over MAX_POLICY_BYTES is refused by its size, unread and unparsed (parsing runs on the event
 * loop every request waits on); no more than MAX_POLICY_BYTES + 1 bytes of it are ever read, and
 * only from a regular file: a FIFO or a device (/dev/zero) in its place is logged and the running
 * policy stays (see models/policy/file.ts).
 *
 * A changed file is read twice, settleMs (500 ms) apart, and acted on only when both reads agree
 * (content, size, mtime, inode): a writer that rewrites the file in place and pauses mid-write
 * (longer than the debounce) would otherwise have its prefix applied when the cut happens to be a
 * valid policy, rules missing until the rest arrives.
 */
import { createHash } from 'node:crypto';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { formatPolicyErrors, NOT_UTF8, parsePolicy, policyFileError, policyTooLarge, readPolicyFile, type Policy, type PolicyError } from '../models/policy/index.js';
import type { Logger } from './log.js';
import type { SidecarMetrics } from './metrics.js';

export interface PolicyWatcherOptions {
  readonly file: string;
  /** Content hash of the policy already running (so the first check is not a reload). */
  readonly initialText?: string;
  /**
   * The policy as run from the file's text, applied to every read before it is compared or parsed
   * (the demo runs its built-in file with `store.kind: redis` when a Redis is configured); must not throw.
   */
  readonly rewrite?: (text: string) => string;
  /** Applies a new valid policy; a throw counts as a reload error and the old policy stays. */
  readonly apply: (policy: Policy) => void | Promise<void>;
  readonly metrics?: SidecarMetrics;
  readonly logger?: Logger;
  readonly hashKey?: string | undefined;
  readonly debounceMs?: number;
  /** Fallback poll (default 10 s; 0 disables). */
  readonly pollMs?: number;
  /** A changed file is read again after this long and acted on only if unchanged (default 500 ms). */
  readonly settleMs?: number;
}

/** What one read of the policy file saw. */
interface Snapshot {
  /** Content hash, or for a file over the cap (unread) an id of the file by its size and times. */
  readonly hash: string;
  /** The content; null when the file is over the cap or not UTF-8. */
  readonly text: string | null;
  /** Why a file that is there is refused unparsed (not UTF-8); over the cap when absent and text is null. */
  readonly error?: PolicyError;
  readonly bytes: number;
  /** Over the cap, and its size said less: `bytes` is what was read before the read stopped. */
  readonly atLeast: boolean;
  /** Size, mtime and inode: equal in two reads of a file nobody wrote in between. */
  readonly stat: string;
}

/** Reads of an unsettled file before giving up until the next event or poll. */
const MAX_SETTLE_ROUNDS = 20;

export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class PolicyFileWatcher {
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private appliedHash: string | null;
  private rejectedHash: string | null = null;
  /** Valid text whose apply threw (a key file not mounted yet…): retried, counted once. */
  private failedApplyHash: string | null = null;
  private closed = false;
  /** Identity (dev:ino) of the directory being watched: a directory removed and created again is a new one, unwatched. */
  private watchedDir: string | null = null;
  reloads = 0;
  errors = 0;
  /** Errors of the last rejected file (for tests and the log). */
  lastErrors: readonly PolicyError[] = [];

  constructor(private readonly opts: PolicyWatcherOptions) {
    this.appliedHash = opts.initialText !== undefined ? contentHash(opts.initialText) : null;
  }

  start(): void {
    if (this.closed || this.poll !== null || this.watcher !== null) return;
    this.watchDir(this.dirIdentitySync());
    const pollMs = this.opts.pollMs ?? 10_000;
    if (pollMs > 0) {
      this.poll = setInterval(() => {
        // a watch on a directory that was removed (and perhaps created again) sees nothing more:
        // the poll watches the directory now there
        if (this.watcher === null) this.watchDir(this.dirIdentitySync());
        else void this.rewatchIfMoved();
        this.trigger(0);
      }, pollMs);
      this.poll.unref();
    }
  }

  private async dirIdentity(): Promise<string | null> {
    try {
      const s = await stat(dirname(this.opts.file));
      return `${s.dev}:${s.ino}`;
    } catch {
      return null;
    }
  }

  private dirIdentitySync(): string | null {
    try {
      const s = statSync(dirname(this.opts.file));
      return `${s.dev}:${s.ino}`;
    } catch {
      return null;
    }
  }

  /** Watches the policy file's directory (synchronously: an edit right after start() is seen). */
  private watchDir(identity: string | null): void {
    const dir = dirname(this.opts.file);
    const name = basename(this.opts.file);
    if (this.closed) return;
    this.watcher?.close();
    this.watcher = null;
    this.watchedDir = identity;
    if (identity === null) return; // not there (yet): the poll tries again
    try {
      const dirName = basename(dir);
      const watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name || filename === '..data' || String(filename).startsWith('..')) this.trigger();
        // the directory itself was removed or renamed (inotify names it so; its inode may be
        // reused by one created again, so dev:ino alone cannot tell): watch afresh what is there now
        // (at worst a needless new watch, when a file in it has the directory's name)
        else if (filename === dirName && this.watcher === watcher) {
          this.watchDir(this.dirIdentitySync());
          this.trigger();
        }
      });
      watcher.on('error', (err) => {
        this.opts.logger?.warn({ err: err.message, dir }, 'policy watch failed; relying on the poll');
        watcher.close();
        if (this.watcher === watcher) {
          this.watcher = null;
          this.watchedDir = null;
        }
      });
      this.watcher = watcher;
    } catch (err) {
      this.watchedDir = null;
      this.opts.logger?.warn({ err: (err as Error).message, dir }, 'cannot watch the policy directory; relying on the poll');
    }
  }

  private async rewatchIfMoved(): Promise<void> {
    const identity = await this.dirIdentity();
    if (this.closed || identity === null || identity === this.watchedDir) return;
    this.watchDir(identity);
  }

  private trigger(delay = this.opts.debounceMs ?? 100): void {
    if (this.closed) return;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.check();
    }, delay);
    this.debounce.unref();
  }

  /** Re-reads the file and applies it when its content changed; resolves when done. */
  check(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    this.running = this.checkOnce().finally(() => {
      this.running = null;
      if (this.again && !this.closed) {
        this.again = false;
        void this.check();
      }
    });
    return this.running;
  }

  /**
   * One read of the file (null: not there, unreadable or not a regular file, logged); over the cap
   * it is not read, and no more than the cap + 1 bytes are ever read (readPolicyFile).
   */
  private async snapshot(): Promise<Snapshot | null> {
    const read = await readPolicyFile(this.opts.file);
    if (read.kind === 'unreadable' && read.code === NOT_UTF8) {
      // there, but not text: a bad file (rejected, logged and counted once), not a read that may work next time
      return { hash: `not-utf8:${read.message}`, text: null, error: policyFileError(read), bytes: 0, atLeast: false, stat: read.message };
    }
    if (read.kind === 'unreadable') {
      // mid-swap or removed: keep the running policy; the next event or poll retries
      if (read.code !== 'ENOENT') this.opts.logger?.warn({ err: read.message }, 'cannot read the policy file; keeping the current policy');
      return null;
    }
    const s = read.stat;
    const statId = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}:${read.bytes}`;
    if (read.kind === 'too-large') return { hash: `too-large:${statId}`, text: null, bytes: read.bytes, atLeast: read.atLeast, stat: statId };
    const text = this.opts.rewrite ? this.opts.rewrite(read.text) : read.text;
    return { hash: contentHash(text), text, bytes: read.bytes, atLeast: false, stat: statId };
  }

  private async checkOnce(): Promise<void> {
    let snap = await this.snapshot();
    if (snap === null) return;
    if (snap.hash === this.appliedHash) {
      // back to the running policy (a rolled-back change): rolling the rejected file out again
      // is a new rejected reload, logged and counted again
      this.rejectedHash = null;
      this.failedApplyHash = null;
      return;
    }
    if (snap.hash === this.rejectedHash || this.closed) return;
    // a change: act on it only once a second read, settleMs later, sees the same file (a writer
    // that paused mid-write would otherwise have its prefix applied)
    const settleMs = this.opts.settleMs ?? 500;
    for (let round = 0; ; round++) {
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      if (this.closed) return;
      const next = await this.snapshot();
      if (next === null) return;
      const settled = next.hash === snap.hash && next.stat === snap.stat;
      snap = next;
      if (settled) break;
      if (snap.hash === this.appliedHash) {
        // back to the running policy while it settled: as a rolled-back change
        this.rejectedHash = null;
        this.failedApplyHash = null;
        return;
      }
      if (round + 1 >= MAX_SETTLE_ROUNDS) {
        this.opts.logger?.warn({ file: this.opts.file }, 'the policy file keeps changing; trying again at the next change or poll');
        return;
      }
    }
    const hash = snap.hash;
    if (hash === this.appliedHash || hash === this.rejectedHash) return;
    if (snap.text === null) {
      this.reject(hash, [snap.error ?? policyTooLarge(snap.bytes, snap.atLeast)]);
      return;
    }
    const text = snap.text;
    const parsed = parsePolicy(text, { hashKey: this.opts.hashKey });
    if (!parsed.ok) {
      this.reject(hash, parsed.errors);
      return;
    }
    try {
      await this.opts.apply(parsed.policy);
    } catch (err) {
      // the text is valid, what it names may not be there yet (a JWT key file from another
      // ConfigMap, a secret variable): every event and poll tries again; counted and logged once
      if (hash !== this.failedApplyHash) this.reject(null, [{ code: 'RW_POLICY_APPLY', path: '', message: (err as Error).message }]);
      this.failedApplyHash = hash;
      return;
    }
    this.appliedHash = hash;
    this.rejectedHash = null;
    this.failedApplyHash = null;
    this.reloads++;
    this.opts.metrics?.policyReloads.inc();
    for (const w of parsed.warnings) this.opts.logger?.warn({ file: this.opts.file }, `policy warning: ${w}`);
    this.opts.logger?.info({ file: this.opts.file, rules: parsed.policy.rules.length, sha256: hash.slice(0, 12) }, 'policy reloaded');
  }

  private reject(hash: string | null, errors: readonly PolicyError[]): void {
    if (hash !== null) this.rejectedHash = hash;
    this.errors++;
    this.lastErrors = errors;
    this.opts.metrics?.policyReloadErrors.inc();
    this.opts.logger?.error({ file: this.opts.file, errors: formatPolicyErrors(errors, this.opts.file).split('\n') }, 'new policy rejected; keeping the previous one');
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.poll !== null) clearInterval(this.poll);
    if (this.debounce !== null) clearTimeout(this.debounce);
  }
}
