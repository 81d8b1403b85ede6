/**
 * The learned model at start-up and on retraining: the shipped artifact (models/artifacts/
 * autoencoder-v1), or a directory given with --model (RW_MODEL_DIR); retraining writes a new
 * version next to it and swaps it in without a restart.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTf } from '../models/ml/backend.js';
import { AutoencoderScorer, METADATA_FILE } from '../models/ml/autoencoder.js';
import { trainArtifact } from '../models/ml/train.js';
import type { Analyzer, LogFn } from './analyzer.js';

export const SHIPPED_MODEL = 'autoencoder-v1';

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

export async function loadAutoencoder(dir: string, log: LogFn): Promise<AutoencoderScorer> {
  const rt = await loadTf((line) => log('info', line));
  const scorer = await AutoencoderScorer.load(rt, dir);
  log('info', `learned model ${scorer.metadata.version} loaded from ${dir} (backend ${rt.backend})`, { version: scorer.metadata.version, backend: rt.backend });
  return scorer;
}

export interface RetrainOptions {
  /** Directory the new versions are written under (`<dir>/autoencoder-r<epoch ms>`). */
  readonly outDir: string;
  /** Fewer clean windows than this: keep the current model. */
  readonly minVectors?: number;
  readonly epochs?: number;
}

/**
 * Retrains on the analyzer's reservoir of recent clean 10 s windows, writes the artifact, loads it
 * and swaps it in. Training yields to the event loop between batches, so ingest keeps running.
 */
export async function retrain(analyzer: Analyzer, opts: RetrainOptions, now: number, log: LogFn): Promise<string | null> {
  const vectors = analyzer.trainingSample();
  if (vectors.length < (opts.minVectors ?? 2_000)) {
    log('info', `retraining skipped: ${vectors.length} clean windows collected (need ${opts.minVectors ?? 2_000})`);
    return null;
  }
  const version = `autoencoder-r${now}`;
  const dir = join(opts.outDir, version);
  await trainArtifact({ outDir: dir, version, vectors, source: `analyzer reservoir at ${new Date(now).toISOString()}`, ...(opts.epochs ? { epochs: opts.epochs } : {}), log: (line) => log('debug', line) });
  analyzer.setAutoencoder(await loadAutoencoder(dir, log));
  return dir;
}
