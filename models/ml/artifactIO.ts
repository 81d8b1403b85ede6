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
async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
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

export function fileLoadHandler(dir: string): TF.io.IOHandler {
  return {
    load: async (): Promise<Artifacts> => {
      const modelJson = JSON.parse(await readFile(join(dir, MODEL_FILE), 'utf8')) as {
        format?: string;
        generatedBy?: string;
        convertedBy?: string | null;
        modelTopology: object;
        weightsManifest: Array<{ paths: string[]; weights: TF.io.WeightsManifestEntry[] }>;
      };
      const specs: TF.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of modelJson.weightsManifest) {
        specs.push(...group.weights);
        for (const path of group.paths) buffers.push(await readFile(join(dir, path)));
      }
      const all = Buffer.concat(buffers);
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
