/**
 * The learned model's artifact against the code that reads it: metadata that disagrees with
 * models/features.ts or with itself (feature list, window, normalisation, error quantiles,
 * architecture, version), and model files that are truncated, padded or corrupted, are refused at
 * load with the reason and the file — never loaded to score NaN or nonsense; the analyzer then runs
 * without the learned detector and says why on /healthz. Scores stay finite whatever the vector
 * holds, training survives non-finite values, and neither scoring nor training leaks tensors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FEATURE_COUNT } from '../../../models/features.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { loadTf, type TfRuntime } from '../../../models/ml/backend.js';
import { AutoencoderScorer, errorToScore, saveAutoencoder, trainAutoencoder } from '../../../models/ml/autoencoder.js';
import { normalVectors } from '../../../models/ml/train.js';
import { shippedModelDir } from '../../../analyzer/model.js';
import { startAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { policy } from './helpers.js';

let rt: TfRuntime;
let tmp: string;
let normal: Float64Array[];
let n = 0;

before(async () => {
  rt = await loadTf();
  tmp = mkdtempSync(join(tmpdir(), 'rw-aeart-'));
  normal = normalVectors({ clients: 30, minutes: 12, seed: 3 });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the shipped artifact, changed by `mutate`. */
function artifact(mutate: (dir: string) => void): string {
  const dir = join(tmp, `a${n++}`);
  cpSync(shippedModelDir(), dir, { recursive: true });
  mutate(dir);
  return dir;
}

function metadata(change: (m: Record<string, any>) => void): (dir: string) => void {
  return (dir) => {
    const file = join(dir, 'metadata.json');
    const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
    change(m);
    writeFileSync(file, JSON.stringify(m));
  };
}

const REFUSED: Array<[string, (dir: string) => void, RegExp]> = [
  ['a zero std (division by zero)', metadata((m) => (m.normalization.stds[5] = 0)), /normalization\.stds\[5\] \(ratio_limited\) is 0/],
  ['one std per feature missing', metadata((m) => m.normalization.stds.pop()), /normalization\.stds has 13 values, expected 14/],
  ['a mean that is null (NaN written as JSON)', metadata((m) => (m.normalization.means[3] = null)), /normalization\.means\[3\] \(ratio_401_403\) is null/],
  ['no normalisation', metadata((m) => delete m.normalization), /no normalization/],
  ['no error quantiles', metadata((m) => delete m.errorQuantiles), /no errorQuantiles/],
  ['q99 of 0 (the score divides by it)', metadata((m) => (m.errorQuantiles.q99 = 0)), /0 < q99 ≤ q999/],
  ['q999 below q99', metadata((m) => (m.errorQuantiles.q999 = 0.01)), /0 < q99 ≤ q999/],
  ['another window size', metadata((m) => (m.windowMs = 60_000)), /60000 ms windows/],
  ['no version', metadata((m) => delete m.version), /version undefined/],
  ['features in another order', metadata((m) => ([m.features[0], m.features[1]] = [m.features[1], m.features[0]])), /differ from the 14 of models\/features\.ts/],
  ['an architecture unlike the layers', metadata((m) => (m.architecture = [14, 8, 14])), /model layers \[14,10,5,10,14\] differ from the metadata's architecture \[14,8,14\]/],
  ['a truncated weights.bin', (dir) => truncateSync(join(dir, 'weights.bin'), 1000), /weights\.bin: 1000 bytes, but model\.json describes 1676 \(truncated\)/],
  ['a weights.bin of another model (longer)', (dir) => writeFileSync(join(dir, 'weights.bin'), Buffer.concat([readFileSync(join(dir, 'weights.bin')), Buffer.alloc(400)])), /weights\.bin: 2076 bytes.*not the weights of this model/],
  ['weights that are NaN', (dir) => writeFileSync(join(dir, 'weights.bin'), Buffer.alloc(1676, 0xff)), /holds NaN \(corrupted weights\.bin\)/],
  ['a truncated model.json', (dir) => truncateSync(join(dir, 'model.json'), 500), /model\.json: not valid JSON, truncated or corrupted/],
  ['a truncated metadata.json', (dir) => truncateSync(join(dir, 'metadata.json'), 500), /metadata\.json: not valid JSON, truncated or corrupted/],
];

for (const [what, mutate, reason] of REFUSED) {
  test(`an artifact with ${what} is refused at load, saying why`, async () => {
    const dir = artifact(mutate);
    await assert.rejects(AutoencoderScorer.load(rt, dir), (err: Error) => {
      assert.ok(err.message.includes(dir), `names the artifact: ${err.message}`);
      assert.match(err.message, reason);
      return true;
    });
  });
}

test('the analyzer starts without the learned detector when its artifact is refused, and /healthz says why', async () => {
  const dir = artifact(metadata((m) => (m.normalization.stds[0] = 0)));
  const running = await startAnalyzer({ policy: policy(), source: new MemoryEventBus(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), listen: null, model: dir, logger: false });
  try {
    assert.equal(running.state.analyzer.model, null);
    const health = (await running.app.inject({ method: 'GET', url: '/healthz' })).json() as { model: { error?: string; version?: string } };
    assert.match(String(health.model.error), /normalization\.stds\[0\] \(requests\) is 0: standardising would divide by zero/);
  } finally {
    await running.close();
  }
});

test('scores are finite numbers in [0, 1] whatever the vector holds (NaN, ±Infinity, a missing feature)', async () => {
  const scorer = await AutoencoderScorer.load(rt, shippedModelDir());
  try {
    const odd = [new Float64Array(FEATURE_COUNT).fill(NaN), new Float64Array(FEATURE_COUNT).fill(Infinity), new Float64Array(FEATURE_COUNT).fill(-Infinity), Float64Array.from(normal[0]!).subarray(0, FEATURE_COUNT - 1)];
    for (const s of scorer.scoreBatch(odd)) {
      assert.ok(Number.isFinite(s.error), `error ${s.error}`);
      assert.ok(Number.isFinite(s.score) && s.score >= 0 && s.score <= 1, `score ${s.score}`);
    }
  } finally {
    scorer.dispose();
  }
  // quantiles that degenerate (q99 of 0) never turn an error into NaN
  for (const e of [0, 1e-9, 0.5, 10, Infinity, NaN]) {
    const s = errorToScore(e, { q50: 0, q90: 0, q99: 0, q999: 1, max: 1 });
    assert.ok(Number.isFinite(s) && s >= 0 && s <= 1, `error ${e} → ${s}`);
  }
});

test('training on a vector with ±Infinity (a vectors file with 1e999) gives finite normalisation and a model that loads', async () => {
  const vectors = normal.slice(0, 150).map((v) => Float64Array.from(v));
  vectors[7]![2] = Infinity;
  vectors[9]![10] = -Infinity;
  const trained = await trainAutoencoder(rt, vectors, { version: 'inf-v0', description: 'test', source: 'test', epochs: 1, seed: 5 });
  const { means, stds } = trained.metadata.normalization;
  assert.ok([...means, ...stds].every(Number.isFinite), `means ${means} stds ${stds}`);
  const dir = join(tmp, 'inf-v0');
  await saveAutoencoder(rt, trained, dir);
  trained.model.dispose();
  const loaded = await AutoencoderScorer.load(rt, dir);
  assert.ok(loaded.scoreBatch(normal.slice(0, 20)).every((s) => Number.isFinite(s.error)));
  loaded.dispose();
});

test('scoring and training leave no tensors behind; training is deterministic for a seed', async () => {
  const scorer = await AutoencoderScorer.load(rt, shippedModelDir());
  const start = rt.tf.memory().numTensors;
  for (let i = 0; i < 50; i++) scorer.scoreBatch(normal.slice(0, 40));
  assert.equal(rt.tf.memory().numTensors, start, 'scoring');
  scorer.dispose();
  const before = rt.tf.memory().numTensors;
  const weights: number[][][] = [];
  for (let run = 0; run < 2; run++) {
    const trained = await trainAutoencoder(rt, normal.slice(0, 150), { version: 'leak-v0', description: 'test', source: 'test', epochs: 1, seed: 9 });
    weights.push(trained.model.getWeights().map((w) => Array.from(w.dataSync())));
    trained.model.dispose();
  }
  assert.equal(rt.tf.memory().numTensors, before, 'training (the optimizer is disposed with the model)');
  assert.deepEqual(weights[1], weights[0]);
});
