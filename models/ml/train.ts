/**
 * Training the autoencoder on normal traffic, into an artifact directory (model.json + weights.bin +
 * metadata.json). Sources: the project's traffic simulator (simulator/, normal clients only — the
 * default when it is installed), the small built-in generator (models/ml/traffic.ts), a file of
 * feature vectors, or vectors handed over in memory (the analyzer's scheduled retraining).
 *
 *   node --import tsx models/ml/train.ts --out models/artifacts/autoencoder-v1 [--version autoencoder-v1]
 *        [--source simulator|generator] [--clients 500] [--minutes 180] [--seed 1001] [--epochs 25] [--vectors FILE]
 *
 * `ratewarden analyzer --train` calls trainArtifact() with the same options.
 * A vectors file is JSON lines, each an array of the 14 features in models/features.ts order or an
 * object `{"vector": [...]}`; or CSV with a header row naming the features.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { FEATURE_COUNT, FEATURE_NAMES, WindowedFeatures } from '../features.js';
import { loadTf } from './backend.js';
import { saveAutoencoder, trainAutoencoder, type AutoencoderMetadata } from './autoencoder.js';
import { makePopulation, TrafficGenerator } from './traffic.js';

export interface NormalVectorOptions {
  readonly clients: number;
  readonly minutes: number;
  readonly seed: number;
  /** Minutes discarded at the start while route memories warm up. */
  readonly warmupMinutes?: number;
  readonly windowMs?: number;
}

/** 10 s feature vectors of normal traffic from the generator (deterministic). */
export function normalVectors(opts: NormalVectorOptions): Float64Array[] {
  const windowMs = opts.windowMs ?? 10_000;
  const startMs = Date.UTC(2024, 0, 1, 8);
  const warmupEnd = startMs + (opts.warmupMinutes ?? 10) * 60_000;
  const gen = new TrafficGenerator(makePopulation({ clients: opts.clients, seed: opts.seed }), { seed: opts.seed, startMs });
  const wf = new WindowedFeatures(windowMs);
  const out: Float64Array[] = [];
  const slices = Math.ceil((opts.minutes * 60_000) / windowMs);
  for (let s = 0; s < slices; s++) {
    for (const e of gen.next(windowMs)) {
      const closed = wf.add(e);
      if (closed && closed.start >= warmupEnd) out.push(closed.vector);
    }
    for (const closed of wf.closeUntil(gen.now)) if (closed.start >= warmupEnd) out.push(closed.vector);
  }
  return out;
}

/**
 * 10 s feature vectors of the simulator's normal clients (no attacks). Loaded lazily: models/ does
 * not depend on the simulator, and an installation without it falls back to the generator.
 */
export async function simulatorVectors(opts: NormalVectorOptions): Promise<Float64Array[]> {
  const specifier = '../../simulator/index.js';
  const sim = (await import(specifier)) as {
    createSimulation(o: { seed: number; duration: number; population: { clients: number } }): { startMs: number; events(): Iterable<import('../events.js').CallEvent> };
  };
  const windowMs = opts.windowMs ?? 10_000;
  const run = sim.createSimulation({ seed: opts.seed, duration: opts.minutes * 60_000, population: { clients: opts.clients } });
  const warmupEnd = run.startMs + (opts.warmupMinutes ?? 10) * 60_000;
  const wf = new WindowedFeatures(windowMs);
  const out: Float64Array[] = [];
  for (const e of run.events()) {
    const closed = wf.add(e);
    if (closed && closed.start >= warmupEnd) out.push(closed.vector);
  }
  for (const closed of wf.closeUntil(Number.POSITIVE_INFINITY)) if (closed.start >= warmupEnd) out.push(closed.vector);
  return out;
}

export async function readVectorsFile(file: string): Promise<Float64Array[]> {
  const text = await readFile(file, 'utf8');
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) throw new Error(`${file}: no vectors`);
  const out: Float64Array[] = [];
  if (!lines[0]!.startsWith('[') && !lines[0]!.startsWith('{')) {
    const header = lines[0]!.split(',').map((h) => h.trim());
    const index = FEATURE_NAMES.map((name) => header.indexOf(name));
    const missing = FEATURE_NAMES.filter((_, i) => index[i]! < 0);
    if (missing.length) throw new Error(`${file}: CSV header lacks ${missing.join(', ')}`);
    for (const line of lines.slice(1)) {
      const cells = line.split(',');
      out.push(Float64Array.from(index, (j) => (cells[j] === '' || cells[j] === undefined ? NaN : Number(cells[j]))));
    }
    return out;
  }
  lines.forEach((line, n) => {
    const parsed = JSON.parse(line) as unknown;
    const arr = Array.isArray(parsed) ? parsed : (parsed as { vector?: unknown }).vector;
    if (!Array.isArray(arr) || arr.length !== FEATURE_COUNT) throw new Error(`${file}:${n + 1}: expected ${FEATURE_COUNT} features`);
    out.push(Float64Array.from(arr, (x) => (x === null ? NaN : Number(x))));
  });
  return out;
}

export interface TrainArtifactOptions {
  readonly outDir: string;
  readonly version?: string;
  readonly clients?: number;
  readonly minutes?: number;
  readonly seed?: number;
  readonly epochs?: number;
  /** Train on these vectors (a file) instead of generated traffic. */
  readonly vectorsFile?: string;
  /** Or on vectors already in memory (the analyzer's scheduled retraining). */
  readonly vectors?: readonly Float64Array[];
  /** Generated traffic: the simulator (default when present) or the built-in generator. */
  readonly generator?: 'simulator' | 'generator';
  readonly source?: string;
  readonly log?: (line: string) => void;
  /** Stops training after the current batch; nothing is written. */
  readonly signal?: AbortSignal;
}

export async function trainArtifact(opts: TrainArtifactOptions): Promise<AutoencoderMetadata> {
  const log = opts.log ?? (() => undefined);
  const rt = await loadTf(log);
  const seed = opts.seed ?? 1001;
  let vectors: readonly Float64Array[];
  let description: string;
  let source: string;
  if (opts.vectors) {
    vectors = opts.vectors;
    description = `${vectors.length} 10 s windows of live traffic that scored as normal`;
    source = opts.source ?? 'analyzer reservoir';
  } else if (opts.vectorsFile) {
    vectors = await readVectorsFile(opts.vectorsFile);
    description = `${vectors.length} feature vectors from ${opts.vectorsFile}`;
    source = opts.vectorsFile;
  } else {
    const clients = opts.clients ?? 500;
    const minutes = opts.minutes ?? 180;
    let sim: Float64Array[] | null = null;
    if (opts.generator !== 'generator') {
      try {
        sim = await simulatorVectors({ clients, minutes, seed });
      } catch (err) {
        if (opts.generator === 'simulator') throw err;
        log(`simulator not available (${(err as Error).message.split('\n')[0]}); using the built-in generator`);
      }
    }
    if (sim) {
      vectors = sim;
      description = `normal traffic of the project simulator (simulator/): ${clients} clients, no attacks, ${minutes} minutes from Mon 2024-01-01 00:00 UTC, first 10 minutes discarded, 10 s windows`;
      source = `simulator seed=${seed}`;
    } else {
      vectors = normalVectors({ clients, minutes, seed });
      description = `normal population traffic from models/ml/traffic.ts: ${clients} clients (browser 50 %, mobile 20 %, integration 20 %, batch 10 %), ${minutes} minutes from Mon 2024-01-01 08:00 UTC, first 10 minutes discarded, 10 s windows`;
      source = `generator seed=${seed}`;
    }
  }
  log(`training on ${vectors.length} vectors (${description})`);
  const trained = await trainAutoencoder(rt, vectors, {
    version: opts.version ?? 'autoencoder-v1',
    description,
    source,
    seed,
    ...(opts.epochs ? { epochs: opts.epochs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onEpoch: (epoch, loss) => log(`epoch ${epoch + 1}: loss ${loss.toFixed(4)}`),
  });
  try {
    opts.signal?.throwIfAborted();
    await saveAutoencoder(rt, trained, opts.outDir);
  } finally {
    trained.model.dispose();
  }
  log(`wrote ${opts.outDir} (q99 ${trained.metadata.errorQuantiles.q99}, q999 ${trained.metadata.errorQuantiles.q999})`);
  return trained.metadata;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      version: { type: 'string' },
      clients: { type: 'string' },
      minutes: { type: 'string' },
      seed: { type: 'string' },
      epochs: { type: 'string' },
      vectors: { type: 'string' },
      source: { type: 'string' },
    },
  });
  if (!values.out) throw new Error('--out DIR is required');
  await trainArtifact({
    outDir: values.out,
    ...(values.version ? { version: values.version } : {}),
    ...(values.clients ? { clients: Number(values.clients) } : {}),
    ...(values.minutes ? { minutes: Number(values.minutes) } : {}),
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    ...(values.epochs ? { epochs: Number(values.epochs) } : {}),
    ...(values.vectors ? { vectorsFile: values.vectors } : {}),
    ...(values.source === 'simulator' || values.source === 'generator' ? { generator: values.source } : {}),
    log: (line) => process.stderr.write(line + '\n'),
  });
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
