/**
 * The learned model at start-up and on retraining: the shipped artifact (models/artifacts/
 * autoencoder-v1), or a directory given with --model (RW_MODEL_DIR); retraining writes a new
 * version (`<model-out>/autoencoder-r<epoch ms>`) and swaps it in without a restart. A restart with
 * retraining on and --model left at `shipped` starts from the newest retrained version that loads,
 * so what the last retraining learned is not lost; a version that is refused is logged and skipped.
 * After each retraining only the newest `keep` retrained versions stay (--retrain-keep, default
 * DEFAULT_RETRAIN_KEEP) besides the one in use; other directories (the shipped artifact) are never removed.
 */
import { existsSync } from 'node:fs';
import { access, constants, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTf } from '../models/ml/backend.js';
import { AutoencoderScorer, METADATA_FILE } from '../models/ml/autoencoder.js';
import { trainArtifact } from '../models/ml/train.js';
import type { Analyzer, LogFn } from './analyzer.js';
import { DEFAULT_RETRAIN_KEEP } from './config.js';

export const SHIPPED_MODEL = 'autoencoder-v1';
/** Name of a retrained version: this prefix and the epoch ms of the retraining. */
export const RETRAINED_PREFIX = 'autoencoder-r';
const RETRAINED = /^autoencoder-r(\d+)$/;

/** models/artifacts/autoencoder-v1 of this installation (from source or from dist/). */
export function shippedModelDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'models', 'artifacts', SHIPPED_MODEL);
    if (existsSync(join(candidate, METADATA_FILE))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`the shipped model ${SHIPPED_MODEL} was not found above ${fileURLToPath(import.meta.url)}`);
}

/**
 * Loads and checks an artifact (AutoencoderScorer.load refuses one that disagrees with this code or
 * is corrupted, with the reason); the backend is chosen on the first call and logged.
 */
export async function loadAutoencoder(dir: string, log: LogFn): Promise<AutoencoderScorer> {
  const rt = await loadTf((line) => log('info', line));
  const scorer = await AutoencoderScorer.load(rt, dir);
  log('info', `learned model ${scorer.metadata.version} loaded from ${dir} (backend ${rt.backend})`, { version: scorer.metadata.version, backend: rt.backend });
  return scorer;
}

/** Retrained versions under `outDir` (`autoencoder-r<ms>` directories), newest first. */
export async function retrainedVersions(outDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, ts: RETRAINED.exec(name)?.[1] }))
    .filter((v): v is { name: string; ts: string } => v.ts !== undefined)
    .sort((a, b) => Number(b.ts) - Number(a.ts))
    .map((v) => join(outDir, v.name));
}

/**
 * The model to start with when --model is `shipped`: with retraining on (`retrainOutDir`), the newest
 * retrained version there that loads; else, or when none does, the shipped artifact.
 */
export async function loadStartModel(retrainOutDir: string | null, log: LogFn): Promise<AutoencoderScorer> {
  if (retrainOutDir) {
    await removeStalePartials(retrainOutDir, log);
    for (const dir of await retrainedVersions(retrainOutDir)) {
      try {
        return await loadAutoencoder(dir, log);
      } catch (err) {
        log('warn', `retrained model refused, trying the next older one: ${(err as Error).message}`);
      }
    }
  }
  return loadAutoencoder(shippedModelDir(), log);
}

const PARTIAL = /^\.autoencoder-r\d+\.partial-(\d+)$/;

/**
 * Versions a retraining was still writing when its process died (killed, out of memory) stay as
 * `.autoencoder-r<ts>.partial-<pid>`: removed at start when another process wrote them over an hour ago.
 */
async function removeStalePartials(outDir: string, log: LogFn): Promise<void> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = PARTIAL.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    const path = join(outDir, name);
    try {
      if (Date.now() - (await stat(path)).mtimeMs < 3_600_000) continue;
      await rm(path, { recursive: true, force: true });
      log('info', `removed ${path}: a retraining that never finished`);
    } catch {
      // gone already, or not ours to remove: left alone
    }
  }
}

export interface RetrainOptions {
  /** Directory the new versions are written under (`<dir>/autoencoder-r<epoch ms>`). */
  readonly outDir: string;
  /** Fewer clean windows than this: keep the current model. */
  readonly minVectors?: number;
  readonly epochs?: number;
  /** Stops a running retraining (the analyzer closing): nothing is written or swapped in. */
  readonly signal?: AbortSignal;
  /** Retrained versions kept under `outDir` once the new one is in use (newest first; default DEFAULT_RETRAIN_KEEP). */
  readonly keep?: number;
}

/**
 * Removes the retrained versions (`autoencoder-r<ts>`) under `outDir` beyond the newest `keep`, never
 * `inUse` (the version swapped in: a clock stepped back can make it older than others) and nothing
 * else (the shipped artifact, other directories). Returns the directories removed; one that cannot
 * be removed is logged and left.
 */
export async function pruneRetrained(outDir: string, keep: number, inUse: string, log: LogFn): Promise<string[]> {
  const keepDir = resolve(inUse);
  const removed: string[] = [];
  for (const dir of (await retrainedVersions(outDir)).slice(Math.max(1, keep))) {
    if (resolve(dir) === keepDir) continue;
    try {
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (err) {
      log('warn', `removing an old retrained model version failed; it stays: ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return removed;
}

/** Analyzers with a retraining running: a second one at the same time is skipped. */
const running = new WeakSet<Analyzer>();

/**
 * Retrains on the analyzer's reservoir of recent clean 10 s windows, writes the artifact, loads it
 * and swaps it in. Training yields to the event loop between batches, so ingest keeps running.
 * Returns the new version's directory, or null when skipped (too few windows, or one already
 * running for this analyzer). Rejects — the current model staying — when the output directory is
 * not writable (checked before training), training fails or is aborted, or the result is refused.
 * The version appears under `outDir` whole (written under a temporary name, then renamed) and is
 * swapped in only after it loaded and passed the same checks as at start-up.
 */
export async function retrain(analyzer: Analyzer, opts: RetrainOptions, now: number, log: LogFn): Promise<string | null> {
  if (running.has(analyzer)) {
    log('info', 'retraining skipped: the previous one is still running');
    return null;
  }
  running.add(analyzer);
  try {
    return await retrainOnce(analyzer, opts, now, log);
  } finally {
    running.delete(analyzer);
  }
}

async function retrainOnce(analyzer: Analyzer, opts: RetrainOptions, now: number, log: LogFn): Promise<string | null> {
  const vectors = analyzer.trainingSample();
  const minVectors = opts.minVectors ?? 2_000;
  if (vectors.length < minVectors) {
    log('info', `retraining skipped: ${vectors.length} clean windows collected (need ${minVectors})`);
    return null;
  }
  const version = `${RETRAINED_PREFIX}${Math.floor(now)}`;
  const dir = join(opts.outDir, version);
  if (existsSync(dir)) {
    log('info', `retraining skipped: ${dir} exists already`);
    return null;
  }
  // minutes of training must not end in a write that cannot succeed: check the directory first
  try {
    await mkdir(opts.outDir, { recursive: true });
    await access(opts.outDir, constants.W_OK);
  } catch (err) {
    throw new Error(`retraining needs a writable --model-out directory: ${opts.outDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const partial = join(opts.outDir, `.${version}.partial-${process.pid}`);
  let renamed = false;
  try {
    await trainArtifact({
      outDir: partial,
      version,
      vectors,
      source: `analyzer reservoir at ${new Date(now).toISOString()}`,
      ...(opts.epochs ? { epochs: opts.epochs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      log: (line) => log('debug', line),
    });
    opts.signal?.throwIfAborted();
    await rename(partial, dir);
    renamed = true;
    const scorer = await loadAutoencoder(dir, log);
    if (opts.signal?.aborted) {
      scorer.dispose();
      opts.signal.throwIfAborted();
    }
    analyzer.setAutoencoder(scorer);
  } catch (err) {
    // nothing half-written or refused stays behind to be picked up at the next start
    await rm(renamed ? dir : partial, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  // one version per retraining: without pruning --model-out grows without bound
  const keep = opts.keep ?? DEFAULT_RETRAIN_KEEP;
  const removed = await pruneRetrained(opts.outDir, keep, dir, log);
  if (removed.length > 0) {
    analyzer.metrics.modelVersionsPruned.inc(removed.length);
    log('info', `removed ${removed.length} retrained model version(s) beyond the newest ${keep}: ${removed.map((d) => basename(d)).join(', ')}`, { removed: removed.length, keep });
  }
  return dir;
}
