import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { F, FEATURE_COUNT, FEATURE_NAMES, WindowedFeatures } from '../../../models/features.js';
import { loadTf, type TfRuntime } from '../../../models/ml/backend.js';
import { AutoencoderScorer, errorToScore, saveAutoencoder, trainAutoencoder, type AutoencoderMetadata } from '../../../models/ml/autoencoder.js';
import { normalVectors } from '../../../models/ml/train.js';
import { shippedModelDir } from '../../../analyzer/model.js';
import { createSimulation } from '../../../simulator/index.js';

const logged: string[] = [];
let rt: TfRuntime;
let scorer: AutoencoderScorer;
let normal: Float64Array[];
let tmp: string;

before(async () => {
  rt = await loadTf((line) => logged.push(line));
  scorer = await AutoencoderScorer.load(rt, shippedModelDir());
  // normal windows of a simulation the model was not trained on (another seed)
  const wf = new WindowedFeatures(10_000);
  normal = [];
  const sim = createSimulation({ seed: 4242, duration: '40m', population: { clients: 150 } });
  const warm = sim.startMs + 10 * 60_000;
  for (const e of sim.events()) {
    const c = wf.add(e);
    if (c && c.start >= warm) normal.push(c.vector);
  }
  tmp = mkdtempSync(join(tmpdir(), 'rw-ae-'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the backend is chosen at start-up and logged (tfjs-node is not installable here: wasm)', () => {
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(rt.backend));
  assert.match(logged.join('\n'), new RegExp(`tensorflow.js backend: ${rt.backend}`));
  assert.equal(scorer.backend, rt.backend);
});

test('the shipped artifact carries its version, feature list, normalisation, training description and error quantiles', () => {
  const meta = JSON.parse(readFileSync(join(shippedModelDir(), 'metadata.json'), 'utf8')) as AutoencoderMetadata;
  assert.equal(meta.version, 'autoencoder-v1');
  assert.deepEqual(meta.features, FEATURE_NAMES);
  assert.equal(meta.normalization.means.length, FEATURE_COUNT);
  assert.equal(meta.normalization.stds.length, FEATURE_COUNT);
  assert.ok(meta.training.rows > 10_000);
  assert.match(meta.training.description, /normal/);
  assert.ok(meta.errorQuantiles.q50 < meta.errorQuantiles.q99 && meta.errorQuantiles.q99 < meta.errorQuantiles.q999);
  assert.ok(existsSync(join(shippedModelDir(), 'model.json')) && existsSync(join(shippedModelDir(), 'weights.bin')));
});

test('normal windows score low', () => {
  assert.ok(normal.length > 2_000, `${normal.length} windows`);
  const scores = scorer.scoreBatch(normal).map((s) => s.score);
  const high = scores.filter((s) => s >= 0.5).length / scores.length;
  const zero = scores.filter((s) => s === 0).length / scores.length;
  assert.ok(zero > 0.95, `${(zero * 100).toFixed(1)} % score 0`);
  assert.ok(high < 0.01, `${(high * 100).toFixed(2)} % score ≥ 0.5`);
});

test('attack windows score high and name the features it could not reconstruct', () => {
  const stuffing = new Float64Array(FEATURE_COUNT);
  stuffing[F.requests] = 120;
  stuffing[F.cost] = 120;
  stuffing[F.ratio4xx] = 0.97;
  stuffing[F.ratio401403] = 0.97;
  stuffing[F.distinctRoutes] = 1;
  stuffing[F.distinctIps] = 1;
  stuffing[F.bytes] = 120 * 300;
  stuffing[F.latencyMs] = 30;
  stuffing[F.interarrivalCv] = 0.3;
  stuffing[F.uaChanges] = 119;
  stuffing[F.newRouteShare] = 0;
  const walk = Float64Array.from(normal[0]!);
  walk[F.requests] = 30;
  walk[F.distinctRoutes] = 30;
  walk[F.newRouteShare] = 1;
  walk[F.sequentialIdShare] = 0.95;
  const [a, b] = scorer.scoreBatch([stuffing, walk]);
  assert.ok(a!.score >= 0.5, `credential stuffing ${a!.score}`);
  assert.ok(b!.score >= 0.5, `enumeration ${b!.score}`);
  assert.ok(a!.top.some((t) => t.index === F.ratio401403 || t.index === F.uaChanges));
});

test('error quantiles map to scores: 0 up to q99, 0.5 at q999, 1 at 8 × q999', () => {
  const q = { q50: 0.01, q90: 0.05, q99: 0.1, q999: 1, max: 3 };
  assert.equal(errorToScore(0.1, q), 0);
  assert.ok(Math.abs(errorToScore(1, q) - 0.5) < 1e-12);
  assert.equal(errorToScore(8, q), 1);
  assert.ok(errorToScore(0.3, q) > 0 && errorToScore(0.3, q) < 0.5);
});

test('training writes model.json, weights.bin and metadata.json that load back to the same scores', async () => {
  const vectors = normalVectors({ clients: 60, minutes: 20, seed: 3 });
  const trained = await trainAutoencoder(rt, vectors, { version: 'test-v0', description: 'unit test', source: 'generator', epochs: 2, seed: 5 });
  const dir = join(tmp, 'test-v0');
  await saveAutoencoder(rt, trained, dir);
  const loaded = await AutoencoderScorer.load(rt, dir);
  assert.equal(loaded.metadata.version, 'test-v0');
  const sample = vectors.slice(0, 50);
  // the same weights give the same reconstruction before and after the round trip
  const input = rt.tf.tensor2d(Array.from({ length: 5 }, (_, r) => Array.from({ length: FEATURE_COUNT }, (_, i) => ((r + i) % 7) / 7 - 0.5)));
  const before = Array.from((trained.model.predict(input) as { dataSync(): Float32Array }).dataSync());
  const reloaded = await rt.tf.loadLayersModel((await import('../../../models/ml/artifactIO.js')).fileLoadHandler(dir));
  const after = Array.from((reloaded.predict(input) as { dataSync(): Float32Array }).dataSync());
  assert.deepEqual(after, before);
  const fromDisk = loaded.scoreBatch(sample).map((s) => s.error);
  assert.ok(fromDisk.length === 50 && fromDisk.every(Number.isFinite));
  reloaded.dispose();
  trained.model.dispose();
  loaded.dispose();
});
