/**
 * Detector 2, the learned one: a dense autoencoder over the 10 s feature vector (models/features.ts),
 * trained on normal population traffic. A window whose features it cannot reconstruct is unlike
 * what it was trained on. Scoring maps the reconstruction error onto [0, 1] with the error
 * quantiles of held-out normal windows stored in the artifact's metadata:
 *   error ≤ q99 → 0;  q99 … q999 → 0 … 0.5 (log scale);  q999 … 8 × q999 → 0.5 … 1.
 * Input: each feature on detector scale (log1p for counts and latency), NaN replaced by the training
 * mean, standardised by the training mean/std and clipped to ±8.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { FEATURE_COUNT, FEATURE_NAMES, fromDetectorScale, toDetectorScale } from '../features.js';
import type { Tf, TfRuntime } from './backend.js';
import { fileLoadHandler, fileSaveHandler, readJsonFile, writeAtomic } from './artifactIO.js';
import { mulberry32 } from './prng.js';

export const METADATA_FILE = 'metadata.json';
export const ARTIFACT_FORMAT = 'ratewarden-autoencoder/1';
/** The analyzer scores 10 s windows with the learned model; an artifact trained on others is refused. */
export const SCORED_WINDOW_MS = 10_000;
const CLIP = 8;
/** Error quantiles below this are floored (a near-constant training set rounds q99 to 0). */
const MIN_QUANTILE = 1e-6;

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
  /** Stops training after the current batch; trainAutoencoder then rejects (nothing is returned). */
  readonly signal?: AbortSignal;
}

/**
 * Checks an artifact's metadata against this code before anything is scored with it: the format, a
 * version, the feature list (names and order of models/features.ts), the window size, one finite mean
 * and one positive finite std per feature, usable error quantiles and the layer sizes. Metadata that
 * fails is refused with the reason (`where: …`): scoring with it would give NaN or meaningless scores.
 */
export function validateMetadata(raw: unknown, where: string): AutoencoderMetadata {
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('metadata is not a JSON object');
  const m = raw as Record<string, unknown>;
  if (m.format !== ARTIFACT_FORMAT) fail(`unsupported artifact format ${JSON.stringify(m.format)} (this code reads ${ARTIFACT_FORMAT})`);
  // the version names the model in logs, /healthz and the model_info metric label
  if (typeof m.version !== 'string' || m.version.trim() === '' || m.version.length > 200 || /[\u0000-\u001f]/.test(m.version)) fail(`artifact version ${JSON.stringify(m.version)} is not a version name`);
  const features = m.features;
  if (!Array.isArray(features) || features.join(',') !== FEATURE_NAMES.join(',')) {
    const got = Array.isArray(features) ? `${features.length} (${features.join(', ')})` : JSON.stringify(features);
    fail(`artifact features ${got} differ from the ${FEATURE_COUNT} of models/features.ts (${FEATURE_NAMES.join(', ')}); retrain with --train`);
  }
  if (m.windowMs !== SCORED_WINDOW_MS) fail(`artifact trained on ${JSON.stringify(m.windowMs)} ms windows; the analyzer scores ${SCORED_WINDOW_MS} ms windows`);
  const norm = m.normalization as Record<string, unknown> | null | undefined;
  if (typeof norm !== 'object' || norm === null) fail('metadata has no normalization');
  for (const key of ['means', 'stds'] as const) {
    const arr = norm![key];
    if (!Array.isArray(arr) || arr.length !== FEATURE_COUNT) fail(`normalization.${key} has ${Array.isArray(arr) ? arr.length : 'no'} values, expected ${FEATURE_COUNT} (one per feature)`);
    (arr as unknown[]).forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) fail(`normalization.${key}[${i}] (${FEATURE_NAMES[i]}) is ${JSON.stringify(x)}, not a finite number`);
      if (key === 'stds' && !((x as number) > 0)) fail(`normalization.stds[${i}] (${FEATURE_NAMES[i]}) is ${x}: standardising would divide by zero`);
    });
  }
  const q = m.errorQuantiles as Record<string, unknown> | null | undefined;
  if (typeof q !== 'object' || q === null) fail('metadata has no errorQuantiles');
  for (const key of ['q50', 'q90', 'q99', 'q999', 'max'] as const) {
    const x = q![key];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) fail(`errorQuantiles.${key} is ${JSON.stringify(x)}, not a finite number ≥ 0`);
  }
  if (!((q!.q99 as number) > 0) || !((q!.q999 as number) >= (q!.q99 as number))) fail(`errorQuantiles q99 ${String(q!.q99)} and q999 ${String(q!.q999)}: scoring needs 0 < q99 ≤ q999`);
  const arch = m.architecture;
  if (!Array.isArray(arch) || arch.length < 2 || !arch.every((u) => Number.isInteger(u) && u > 0) || arch[0] !== FEATURE_COUNT || arch.at(-1) !== FEATURE_COUNT) {
    fail(`architecture ${JSON.stringify(arch)} does not map ${FEATURE_COUNT} features to ${FEATURE_COUNT}`);
  }
  return raw as AutoencoderMetadata;
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
      let z = (x - norm.means[i]!) / norm.stds[i]!;
      // a value the scale cannot place (a missing feature, undefined) is taken as the mean; ±Infinity clips
      if (Number.isNaN(z)) z = 0;
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
      // NaN (no meaning in the window) and ±Infinity (a vectors file with 1e999) carry no level
      if (!Number.isFinite(x)) continue;
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
  opts.signal?.throwIfAborted();
  const model = buildAutoencoder(tf, hidden, seed);
  // the optimizer is ours, not the model's: model.dispose() leaves an optimizer passed in alone, so
  // its moment variables (18 tensors for Adam here) stay allocated unless disposed after fitting
  const optimizer = tf.train.adam(learningRate);
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const xt = tf.tensor2d(x, [train.length, FEATURE_COUNT]);
  let finalLoss = NaN;
  let done = false;
  try {
    const history = await model.fit(xt, xt, {
      epochs,
      batchSize,
      shuffle: false,
      verbose: 0,
      yieldEvery: 'batch',
      callbacks: {
        onBatchEnd: async () => {
          if (opts.signal?.aborted) model.stopTraining = true;
        },
        onEpochEnd: async (epoch: number, logs?: TF.Logs) => {
          finalLoss = Number(logs?.loss ?? NaN);
          opts.onEpoch?.(epoch, finalLoss);
        },
      },
    });
    finalLoss = Number(history.history.loss?.at(-1) ?? finalLoss);
    opts.signal?.throwIfAborted();
    if (!Number.isFinite(finalLoss)) throw new Error(`training diverged (loss ${finalLoss}); no model`);
    done = true;
  } finally {
    xt.dispose();
    optimizer.dispose();
    if (!done) model.dispose();
  }
  const heldInput = prepareInput(held, norm);
  const { errors } = reconstruction(tf, model, heldInput, held.length);
  const sorted = Float64Array.from(errors).sort();
  const validationLoss = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const q = (p: number): number => round(quantile(sorted, p));
  // a near-constant training set reconstructs almost exactly: q99 rounds to 0 and scoring would
  // divide by it, so the quantiles are floored (q99 > 0, q999 ≥ q99)
  const q99 = Math.max(q(0.99), MIN_QUANTILE);
  const q999 = Math.max(q(0.999), q99);
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
    errorQuantiles: { q50: q(0.5), q90: q(0.9), q99, q999, max: Math.max(round(sorted[sorted.length - 1]!), q999) },
    scoring: 'mean squared error over standardised features; score 0 up to q99, 0.5 at q999 (log scale between), 1 at 8 × q999',
  };
  try {
    // what is written must load: the same checks as AutoencoderScorer.load
    validateMetadata(metadata, `trained model ${opts.version}`);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, metadata };
}

export async function saveAutoencoder(rt: TfRuntime, trained: TrainedAutoencoder, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // over an existing artifact: its metadata goes first, so a save cut short leaves a directory that is
  // refused (no metadata) rather than new weights read with the old normalisation and quantiles
  await rm(join(dir, METADATA_FILE), { force: true });
  await trained.model.save(fileSaveHandler(rt.tf, dir));
  // last, and atomically: a directory without a complete metadata.json is refused by load()
  await writeAtomic(join(dir, METADATA_FILE), JSON.stringify(trained.metadata, null, 2) + '\n');
}

/** Always a finite number in [0, 1] (an error that is not a number scores 0). */
export function errorToScore(error: number, q: ErrorQuantiles): number {
  if (!(error > q.q99)) return 0;
  const s = error < q.q999 ? (0.5 * Math.log(error / q.q99)) / Math.log(q.q999 / q.q99) : Math.min(1, 0.5 + (0.5 * Math.log(error / q.q999)) / Math.log(8));
  return s >= 0 && s <= 1 ? s : s > 1 ? 1 : 0;
}

export interface AutoencoderScore {
  readonly error: number;
  readonly score: number;
  /** Features with the largest reconstruction error: observed vs what the model expected, in feature units. */
  readonly top: ReadonlyArray<{ readonly index: number; readonly observed: number; readonly expected: number; readonly z: number }>;
}

/** The loaded layers against the metadata: shapes, architecture, finite weights, a finite reconstruction. */
function checkModel(tf: Tf, model: TF.LayersModel, metadata: AutoencoderMetadata, dir: string): void {
  const shape = (s: unknown): string => JSON.stringify(s);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new Error(`${dir}: model has ${model.inputs.length} inputs and ${model.outputs.length} outputs, expected 1 and 1`);
  const inShape = model.inputs[0]!.shape;
  const outShape = model.outputs[0]!.shape;
  if (inShape.length !== 2 || inShape[1] !== FEATURE_COUNT || outShape.length !== 2 || outShape[1] !== FEATURE_COUNT) {
    throw new Error(`${dir}: model maps ${shape(inShape)} to ${shape(outShape)}, expected [null, ${FEATURE_COUNT}] to [null, ${FEATURE_COUNT}] (one input per feature)`);
  }
  const layers = [FEATURE_COUNT, ...model.layers.map((l) => {
    const out = l.outputShape as number[];
    return out[out.length - 1]!;
  })];
  if (layers.join(',') !== metadata.architecture.join(',')) throw new Error(`${dir}: model layers ${shape(layers)} differ from the metadata's architecture ${shape(metadata.architecture)} (model.json from another artifact?)`);
  for (const w of model.weights) {
    const values = w.read().dataSync();
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) throw new Error(`${dir}: weight ${w.name} holds ${values[i]} (corrupted weights.bin)`);
  }
  // the training mean (all zeros once standardised) and both clip limits must reconstruct to finite numbers
  const probe = new Float32Array(3 * FEATURE_COUNT);
  probe.fill(CLIP, FEATURE_COUNT, 2 * FEATURE_COUNT).fill(-CLIP, 2 * FEATURE_COUNT);
  const { errors } = reconstruction(tf, model, probe, 3);
  if (!errors.every(Number.isFinite)) throw new Error(`${dir}: the model reconstructs to a non-finite error (corrupted weights)`);
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

  /**
   * Loads and checks an artifact directory. Refused, with the reason in the error, when the metadata
   * disagrees with this code (validateMetadata), model.json or weights.bin is truncated, corrupted or
   * from another model, the layers do not match the metadata's architecture, a weight is not finite,
   * or the model does not reconstruct the training mean to a finite error — never a scorer that gives
   * NaN or meaningless scores.
   */
  static async load(rt: TfRuntime, dir: string): Promise<AutoencoderScorer> {
    const metadata = validateMetadata(await readJsonFile(join(dir, METADATA_FILE)), dir);
    let model: TF.LayersModel;
    try {
      model = await rt.tf.loadLayersModel(fileLoadHandler(dir));
    } catch (err) {
      const msg = (err as Error).message;
      throw new Error(msg.startsWith(dir) ? msg : `${dir}: the model (model.json, weights.bin) does not load: ${msg}`);
    }
    try {
      checkModel(rt.tf, model, metadata, dir);
    } catch (err) {
      model.dispose();
      throw err;
    }
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
