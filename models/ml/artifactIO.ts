/**
 * A TensorFlow.js layers model on the file system without tfjs-node: `model.json` (topology and
 * weights manifest, the standard tfjs layers format) plus one `weights.bin`, written through
 * tf.io.withSaveHandler and read back through an IOHandler of our own.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import type { Tf } from './backend.js';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

type Artifacts = TF.io.ModelArtifacts;

function weightBytes(data: Artifacts['weightData']): Buffer {
  if (!data) return Buffer.alloc(0);
  const parts = Array.isArray(data) ? data : [data];
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

/** Writes atomically (temp file + rename), so a reader never sees half an artifact file. */
export async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

export function fileSaveHandler(tf: Tf, dir: string): TF.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts: Artifacts) => {
    await mkdir(dir, { recursive: true });
    const weights = weightBytes(artifacts.weightData);
    const modelJson = {
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
    };
    await writeAtomic(join(dir, WEIGHTS_FILE), weights);
    await writeAtomic(join(dir, MODEL_FILE), JSON.stringify(modelJson));
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
        weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
        weightDataBytes: weights.byteLength,
      },
    };
  });
}

/** A JSON file of an artifact; an unreadable or truncated one is an error naming the file. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot be read (${e.code ?? e.message})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${file}: not valid JSON, truncated or corrupted (${(err as Error).message})`);
  }
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes the manifest's weights take, or null when it cannot say (string weights). */
function manifestBytes(specs: readonly TF.io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const spec of specs) {
    const per = DTYPE_BYTES[spec.quantization?.dtype ?? spec.dtype];
    if (per === undefined || !Array.isArray(spec.shape)) return null;
    total += spec.shape.reduce((a, b) => a * b, 1) * per;
  }
  return total;
}

export function fileLoadHandler(dir: string): TF.io.IOHandler {
  return {
    load: async (): Promise<Artifacts> => {
      const file = join(dir, MODEL_FILE);
      const modelJson = (await readJsonFile(file)) as {
        format?: string;
        generatedBy?: string;
        convertedBy?: string | null;
        modelTopology: object;
        weightsManifest: Array<{ paths: string[]; weights: TF.io.WeightsManifestEntry[] }>;
      };
      if (typeof modelJson !== 'object' || modelJson === null || typeof modelJson.modelTopology !== 'object' || !Array.isArray(modelJson.weightsManifest)) {
        throw new Error(`${file}: not a tfjs layers model (no modelTopology or weightsManifest)`);
      }
      const specs: TF.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      const paths: string[] = [];
      for (const group of modelJson.weightsManifest) {
        if (!Array.isArray(group?.weights) || !Array.isArray(group.paths)) throw new Error(`${file}: malformed weightsManifest`);
        specs.push(...group.weights);
        for (const path of group.paths) {
          // weights live next to model.json, never elsewhere
          if (typeof path !== 'string' || path.includes('/') || path.includes('\\') || path.startsWith('.')) throw new Error(`${file}: weights path ${JSON.stringify(path)} is not a file name in ${dir}`);
          paths.push(path);
          try {
            buffers.push(await readFile(join(dir, path)));
          } catch (err) {
            throw new Error(`${join(dir, path)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
          }
        }
      }
      const all = Buffer.concat(buffers);
      // tfjs reads what the manifest describes and ignores the rest: a short file fails deep inside
      // it, a long one (weights of another model) loads silently; both are refused here by size
      const expected = manifestBytes(specs);
      if (expected !== null && expected !== all.byteLength) {
        throw new Error(`${join(dir, paths.join('+'))}: ${all.byteLength} bytes, but ${MODEL_FILE} describes ${expected} (${all.byteLength < expected ? 'truncated' : 'not the weights of this model'})`);
      }
      return {
        modelTopology: modelJson.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy ?? undefined,
      };
    },
  };
}
