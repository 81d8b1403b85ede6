/**
 * Detector 2, the learned one: a dense autoencoder over the 10 s feature vector (models/features.ts),
 * trained on normal population traffic. A window whose features it cannot reconstruct is unlike
 * what it was trained on. Scoring maps the reconstruction error onto [0, 1] with the error
 * quantiles of held-out normal windows stored in the artifact's metadata:
 *   error ≤ q99 → 0;  q99 … q999 → 0 … 0.5 (log scale);  q999 … 8 × q999 → 0.5 … 1.
 * Input: each feature on detector scale (log1p for counts and latency), NaN replaced by the training
 * mean, standardised by the training mean/std and clipped to ±8.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { FEATURE_COUNT, FEATURE_NAMES, fromDetectorScale, toDetectorScale } from '../features.js';
import type { Tf, TfRuntime } from './backend.js';
import { fileLoadHandler, fileSaveHandler } from './artifactIO.js';
import { mulberry32 } from './prng.js';

export const METADATA_FILE = 'metadata.json';
export const ARTIFACT_FORMAT = 'ratewarden-autoencoder/1';
const CLIP = 8;

export interface ErrorQuantiles {
  readonly q50: number;
  readonly q90: number;
  readonly q99: number;
  readonly q999: number;
  readonly max: number;
}

export interface AutoencoderMetadata {
  readonly format: typeof ARTIFACT_FORMAT;
  readonly version: string;
  readonly createdAt: string;
  readonly features: readonly string[];
  readonly windowMs: number;
  readonly transform: string;
  readonly normalization: { readonly means: readonly number[]; readonly stds: readonly number[] };
  readonly architecture: readonly number[];
  readonly training: {
    readonly description: string;
    readonly source: string;
    readonly rows: number;
    readonly validationRows: number;
    readonly epochs: number;
    readonly batchSize: number;
    readonly learningRate: number;
    readonly seed: number;
    readonly backend: string;
    readonly finalLoss: number;
    readonly validationLoss: number;
    readonly seconds: number;
  };
  readonly errorQuantiles: ErrorQuantiles;
  readonly scoring: string;
}

export interface TrainOptions {
  readonly version: string;
  readonly description: string;
  readonly source: string;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly seed?: number;
  readonly hidden?: readonly number[];
  readonly windowMs?: number;
  /** Share held out for the error quantiles. */
  readonly validation?: number;
  /** Called after each epoch (loss); training yields to the event loop between batches. */
  readonly onEpoch?: (epoch: number, loss: number) => void;
}

/** Detector-scale matrix with NaN kept (for computing normalisation). */
function scaled(vectors: ReadonlyArray<ArrayLike<number>>): Float64Array {
  const out = new Float64Array(vectors.length * FEATURE_COUNT);
  for (let r = 0; r < vectors.length; r++) for (let i = 0; i < FEATURE_COUNT; i++) out[r * FEATURE_COUNT + i] = toDetectorScale(i, vectors[r]![i]!);
  return out;
}

/** Normalised model input (rows × features). */
export function prepareInput(vectors: ReadonlyArray<ArrayLike<number>>, norm: AutoencoderMetadata['normalization']): Float32Array {
  const out = new Float32Array(vectors.length * FEATURE_COUNT);
  for (let r = 0; r < vectors.length; r++) {
    const v = vectors[r]!;
    for (let i = 0; i < FEATURE_COUNT; i++) {
      let x = toDetectorScale(i, v[i]!);
      if (Number.isNaN(x)) x = norm.means[i]!;
      const z = (x - norm.means[i]!) / norm.stds[i]!;
      out[r * FEATURE_COUNT + i] = z > CLIP ? CLIP : z < -CLIP ? -CLIP : z;
    }
  }
  return out;
}

function normalization(matrix: Float64Array, rows: number): AutoencoderMetadata['normalization'] {
  const means: number[] = [];
  const stds: number[] = [];
  for (let i = 0; i < FEATURE_COUNT; i++) {
    let n = 0;
    let sum = 0;
    let sq = 0;
    for (let r = 0; r < rows; r++) {
      const x = matrix[r * FEATURE_COUNT + i]!;
      if (Number.isNaN(x)) continue;
      n++;
      sum += x;
      sq += x * x;
    }
    const mean = n ? sum / n : 0;
    const std = n ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : 1;
    means.push(round(mean));
    // a constant feature in training would divide by ~0: keep a floor
    stds.push(round(Math.max(std, 0.05)));
  }
  return { means, stds };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function buildAutoencoder(tf: Tf, hidden: readonly number[], seed: number): TF.Sequential {
  const model = tf.sequential();
  hidden.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: 'elu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
        ...(i === 0 ? { inputShape: [FEATURE_COUNT] } : {}),
      }),
    );
  });
  model.add(tf.layers.dense({ units: FEATURE_COUNT, activation: 'linear', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + hidden.length }) }));
  return model;
}

/** Per-row mean squared reconstruction error, and per-feature squared errors. */
function reconstruction(tf: Tf, model: TF.LayersModel, input: Float32Array, rows: number): { errors: Float32Array; perFeature: Float32Array; output: Float32Array } {
  const output = tf.tidy(() => (model.predict(tf.tensor2d(input, [rows, FEATURE_COUNT])) as TF.Tensor).dataSync() as Float32Array);
  const errors = new Float32Array(rows);
  const perFeature = new Float32Array(rows * FEATURE_COUNT);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let i = 0; i < FEATURE_COUNT; i++) {
      const d = input[r * FEATURE_COUNT + i]! - output[r * FEATURE_COUNT + i]!;
      perFeature[r * FEATURE_COUNT + i] = d * d;
      sum += d * d;
    }
    errors[r] = sum / FEATURE_COUNT;
  }
  return { errors, perFeature, output };
}

export interface TrainedAutoencoder {
  readonly model: TF.Sequential;
  readonly metadata: AutoencoderMetadata;
}

/** Trains on normal feature vectors (10 s windows). Deterministic for a seed on one backend. */
export async function trainAutoencoder(rt: TfRuntime, vectors: ReadonlyArray<ArrayLike<number>>, opts: TrainOptions): Promise<TrainedAutoencoder> {
  const { tf } = rt;
  const started = Date.now();
  const seed = opts.seed ?? 42;
  const epochs = opts.epochs ?? 25;
  const batchSize = opts.batchSize ?? 256;
  const learningRate = opts.learningRate ?? 0.005;
  const hidden = opts.hidden ?? [10, 5, 10];
  if (vectors.length < 100) throw new Error(`need at least 100 training vectors (got ${vectors.length})`);
  // seeded shuffle, then hold out the tail for the error quantiles
  const rng = mulberry32(seed);
  const order = vectors.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const shuffled = order.map((i) => vectors[i]!);
  const validationRows = Math.max(50, Math.floor(shuffled.length * (opts.validation ?? 0.2)));
  const train = shuffled.slice(0, shuffled.length - validationRows);
  const held = shuffled.slice(shuffled.length - validationRows);
  const norm = normalization(scaled(train), train.length);
  const x = prepareInput(train, norm);
  const model = buildAutoencoder(tf, hidden, seed);
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'meanSquaredError' });
  const xt = tf.tensor2d(x, [train.length, FEATURE_COUNT]);
  let finalLoss = NaN;
  try {
    const history = await model.fit(xt, xt, {
      epochs,
      batchSize,
      shuffle: false,
      verbose: 0,
      yieldEvery: 'batch',
      callbacks: {
        onEpochEnd: async (epoch: number, logs?: TF.Logs) => {
          finalLoss = Number(logs?.loss ?? NaN);
          opts.onEpoch?.(epoch, finalLoss);
        },
      },
    });
    finalLoss = Number(history.history.loss?.at(-1) ?? finalLoss);
  } finally {
    xt.dispose();
  }
  const heldInput = prepareInput(held, norm);
  const { errors } = reconstruction(tf, model, heldInput, held.length);
  const sorted = Float64Array.from(errors).sort();
  const validationLoss = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const q = (p: number): number => round(quantile(sorted, p));
  const metadata: AutoencoderMetadata = {
    format: ARTIFACT_FORMAT,
    version: opts.version,
    createdAt: new Date().toISOString(),
    features: [...FEATURE_NAMES],
    windowMs: opts.windowMs ?? 10_000,
    transform: 'per feature: log1p for counts and latency (models/features.ts toDetectorScale), NaN → training mean, (x − mean) / std, clipped to ±8',
    normalization: norm,
    architecture: [FEATURE_COUNT, ...hidden, FEATURE_COUNT],
    training: {
      description: opts.description,
      source: opts.source,
      rows: train.length,
      validationRows: held.length,
      epochs,
      batchSize,
      learningRate,
      seed,
      backend: rt.backend,
      finalLoss: round(finalLoss),
      validationLoss: round(validationLoss),
      seconds: Math.round((Date.now() - started) / 100) / 10,
    },
    errorQuantiles: { q50: q(0.5), q90: q(0.9), q99: q(0.99), q999: q(0.999), max: round(sorted[sorted.length - 1]!) },
    scoring: 'mean squared error over standardised features; score 0 up to q99, 0.5 at q999 (log scale between), 1 at 8 × q999',
  };
  return { model, metadata };
}

export async function saveAutoencoder(rt: TfRuntime, trained: TrainedAutoencoder, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await trained.model.save(fileSaveHandler(rt.tf, dir));
  await writeFile(join(dir, METADATA_FILE), JSON.stringify(trained.metadata, null, 2) + '\n');
}

export function errorToScore(error: number, q: ErrorQuantiles): number {
  if (!(error > q.q99)) return 0;
  if (error < q.q999) return (0.5 * Math.log(error / q.q99)) / Math.log(q.q999 / q.q99);
  return Math.min(1, 0.5 + (0.5 * Math.log(error / q.q999)) / Math.log(8));
}

export interface AutoencoderScore {
  readonly error: number;
  readonly score: number;
  /** Features with the largest reconstruction error: observed vs what the model expected, in feature units. */
  readonly top: ReadonlyArray<{ readonly index: number; readonly observed: number; readonly expected: number; readonly z: number }>;
}

/** A loaded artifact that scores batches of raw feature vectors. */
export class AutoencoderScorer {
  private constructor(
    private readonly rt: TfRuntime,
    private readonly model: TF.LayersModel,
    readonly metadata: AutoencoderMetadata,
    readonly dir: string,
  ) {}

  get backend(): string {
    return this.rt.backend;
  }

  static async load(rt: TfRuntime, dir: string): Promise<AutoencoderScorer> {
    const metadata = JSON.parse(await readFile(join(dir, METADATA_FILE), 'utf8')) as AutoencoderMetadata;
    if (metadata.format !== ARTIFACT_FORMAT) throw new Error(`${dir}: unsupported artifact format ${JSON.stringify(metadata.format)}`);
    if (metadata.features.join(',') !== FEATURE_NAMES.join(',')) {
      throw new Error(`${dir}: artifact features (${metadata.features.join(', ')}) differ from models/features.ts (${FEATURE_NAMES.join(', ')}); retrain with --train`);
    }
    const model = await rt.tf.loadLayersModel(fileLoadHandler(dir));
    return new AutoencoderScorer(rt, model, metadata, dir);
  }

  /** Scores raw feature vectors in one batch (never called per event). */
  scoreBatch(vectors: ReadonlyArray<ArrayLike<number>>, topK = 3): AutoencoderScore[] {
    if (vectors.length === 0) return [];
    const { normalization: norm, errorQuantiles } = this.metadata;
    const input = prepareInput(vectors, norm);
    const { errors, perFeature, output } = reconstruction(this.rt.tf, this.model, input, vectors.length);
    const out: AutoencoderScore[] = [];
    for (let r = 0; r < vectors.length; r++) {
      const score = errorToScore(errors[r]!, errorQuantiles);
      let top: AutoencoderScore['top'] = [];
      if (score > 0) {
        const idx = Array.from({ length: FEATURE_COUNT }, (_, i) => i).sort((a, b) => perFeature[r * FEATURE_COUNT + b]! - perFeature[r * FEATURE_COUNT + a]!);
        top = idx.slice(0, topK).map((i) => {
          const expectedScaled = output[r * FEATURE_COUNT + i]! * norm.stds[i]! + norm.means[i]!;
          return { index: i, observed: vectors[r]![i]!, expected: fromDetectorScale(i, expectedScaled), z: Math.sqrt(perFeature[r * FEATURE_COUNT + i]!) };
        });
      }
      out.push({ error: errors[r]!, score, top });
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}
