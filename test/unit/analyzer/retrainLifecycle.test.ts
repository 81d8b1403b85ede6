/**
 * Retraining's life cycle around the model in use: one retraining at a time per analyzer, an output
 * directory that cannot be written fails before minutes of training, a stopped retraining (the
 * analyzer closing) writes and swaps nothing, a version appears under --model-out whole, and a
 * restart with retraining on starts from the newest retrained version that loads — not the shipped
 * one — skipping one that is refused. Trained small (150 windows, one epoch) to stay fast.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import type { AutoencoderScorer } from '../../../models/ml/autoencoder.js';
import { normalVectors } from '../../../models/ml/train.js';
import type { Analyzer } from '../../../analyzer/analyzer.js';
import { AnalyzerMetrics } from '../../../analyzer/metrics.js';
import { loadStartModel, retrain } from '../../../analyzer/model.js';
import { startAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { T0, policy } from './helpers.js';

let tmp: string;
let vectors: Float64Array[];
const small = { minVectors: 100, epochs: 1 } as const;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rw-retrain-life-'));
  vectors = normalVectors({ clients: 30, minutes: 12, seed: 3 }).slice(0, 150);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** What retrain() uses of an Analyzer: its reservoir, the model swap and its metrics. */
function fakeAnalyzer(): Analyzer & { readonly current: AutoencoderScorer | null } {
  let current: AutoencoderScorer | null = null;
  return {
    metrics: new AnalyzerMetrics(),
    trainingSample: () => vectors.map((v) => Float64Array.from(v)),
    setAutoencoder(scorer: AutoencoderScorer | null) {
      if (current && current !== scorer) current.dispose();
      current = scorer;
    },
    get current() {
      return current;
    },
  } as unknown as Analyzer & { readonly current: AutoencoderScorer | null };
}

function recorder(): { lines: string[]; log: (level: string, msg: string) => void } {
  const lines: string[] = [];
  return { lines, log: (_level, msg) => void lines.push(msg) };
}

test('a second retraining while one runs is skipped; the version appears whole, with nothing half-written beside it', async () => {
  const outDir = join(tmp, 'concurrent');
  const analyzer = fakeAnalyzer();
  const { lines, log } = recorder();
  const [first, second] = await Promise.all([retrain(analyzer, { outDir, ...small }, T0, log), retrain(analyzer, { outDir, ...small }, T0 + 1, log)]);
  assert.equal(first, join(outDir, `autoencoder-r${T0}`));
  assert.equal(second, null);
  assert.ok(lines.some((l) => /retraining skipped: the previous one is still running/.test(l)), lines.join('\n'));
  assert.deepEqual(readdirSync(outDir), [`autoencoder-r${T0}`]);
  assert.deepEqual(readdirSync(first!).sort(), ['metadata.json', 'model.json', 'weights.bin']);
  assert.equal(analyzer.current!.metadata.version, `autoencoder-r${T0}`);
  // once it is done, the next one runs
  assert.ok(await retrain(analyzer, { outDir, ...small }, T0 + 2, log));
  assert.equal(analyzer.current!.metadata.version, `autoencoder-r${T0 + 2}`);
  analyzer.current!.dispose();
});

test('an output directory that cannot be written fails before training, not after it', async () => {
  const file = join(tmp, 'not-a-directory');
  writeFileSync(file, 'x');
  const analyzer = fakeAnalyzer();
  const { lines, log } = recorder();
  await assert.rejects(retrain(analyzer, { outDir: join(file, 'models'), ...small }, T0, log), /retraining needs a writable --model-out directory: .*not-a-directory\/models/);
  assert.ok(!lines.some((l) => /training on|epoch/.test(l)), `trained anyway:\n${lines.join('\n')}`);
  assert.equal(analyzer.current, null);
});

test('a retraining stopped midway (the analyzer closing) writes nothing and swaps nothing', async () => {
  const outDir = join(tmp, 'stopped');
  const analyzer = fakeAnalyzer();
  const stop = new AbortController();
  const lines: string[] = [];
  const log = (_level: string, msg: string): void => {
    lines.push(msg);
    if (/^epoch 1:/.test(msg)) stop.abort();
  };
  await assert.rejects(retrain(analyzer, { outDir, minVectors: 100, epochs: 5, signal: stop.signal }, T0, log), { name: 'AbortError' });
  assert.ok(!lines.some((l) => /^epoch 3:/.test(l)), `training went on:\n${lines.join('\n')}`);
  assert.deepEqual(existsSync(outDir) ? readdirSync(outDir) : [], []);
  assert.equal(analyzer.current, null);
});

test('a restart with retraining on starts from the newest retrained version that loads, skipping a refused one', async () => {
  const outDir = join(tmp, 'restart');
  const analyzer = fakeAnalyzer();
  const good = await retrain(analyzer, { outDir, ...small }, T0, () => undefined);
  analyzer.current!.dispose();
  // a newer version that is broken (a disk filled up under it), and an older one
  cpSync(good!, join(outDir, `autoencoder-r${T0 + 60_000}`), { recursive: true });
  truncateSync(join(outDir, `autoencoder-r${T0 + 60_000}`, 'weights.bin'), 100);
  cpSync(good!, join(outDir, `autoencoder-r${T0 - 60_000}`), { recursive: true });
  mkdirSync(join(outDir, 'unrelated'));
  const running = await startAnalyzer({ policy: policy(), source: new MemoryEventBus(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), listen: null, logger: false, retrain: { everyMs: 3_600_000, outDir } });
  try {
    assert.equal(running.state.analyzer.model?.metadata.version, `autoencoder-r${T0}`);
    const health = (await running.app.inject({ method: 'GET', url: '/healthz' })).json() as { model: { version?: string } };
    assert.equal(health.model.version, `autoencoder-r${T0}`);
  } finally {
    await running.close();
  }
  // without retraining, `shipped` is the shipped artifact
  const plain = await startAnalyzer({ policy: policy(), source: new MemoryEventBus(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), listen: null, logger: false });
  try {
    assert.equal(plain.state.analyzer.model?.metadata.version, 'autoencoder-v1');
  } finally {
    await plain.close();
  }
});

test("at start, versions another process never finished writing over an hour ago are removed; recent ones and this process's are left", async () => {
  const outDir = join(tmp, 'partials');
  mkdirSync(outDir, { recursive: true });
  const stale = join(outDir, '.autoencoder-r1000.partial-999999');
  const recent = join(outDir, '.autoencoder-r2000.partial-999998');
  const ours = join(outDir, `.autoencoder-r3000.partial-${process.pid}`);
  for (const d of [stale, recent, ours]) mkdirSync(d);
  writeFileSync(join(stale, 'weights.bin.123.tmp'), 'x');
  const old = new Date(Date.now() - 2 * 3_600_000);
  for (const d of [stale, ours]) utimesSync(d, old, old);
  const lines: string[] = [];
  const scorer = await loadStartModel(outDir, (_level, msg) => void lines.push(msg));
  scorer.dispose();
  assert.ok(!existsSync(stale), `the stale one is removed:\n${lines.join('\n')}`);
  assert.ok(existsSync(recent), 'a recent one may still be written by another process');
  assert.ok(existsSync(ours), "this process's own is left to its retraining");
  assert.ok(lines.some((l) => l.includes('a retraining that never finished')));
});

test('closing the analyzer stops a scheduled retraining that is running and waits for it', { timeout: 60_000 }, async () => {
  const outDir = join(tmp, 'closing');
  const lines: string[] = [];
  let training!: () => void;
  const started = new Promise<void>((resolve) => (training = resolve));
  const stream = {
    write(line: string) {
      const msg = String((JSON.parse(line) as { msg?: string }).msg);
      lines.push(msg);
      if (/^training on/.test(msg)) training();
    },
  };
  const running = await startAnalyzer({ policy: policy(), source: new MemoryEventBus(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), listen: null, model: null, logger: { level: 'debug', stream }, retrain: { everyMs: 20, outDir } });
  // a reservoir big enough to retrain on (2,000 windows), without minutes of traffic
  const big = Array.from({ length: 2_000 }, (_, i) => Float64Array.from(vectors[i % vectors.length]!));
  (running.state.analyzer as unknown as { trainingSample(): Float64Array[] }).trainingSample = () => big;
  // the analyzer's timers do not hold the process open; this test's wait does
  const keepAlive = setInterval(() => undefined, 1_000);
  try {
    await started;
    await running.close();
  } finally {
    clearInterval(keepAlive);
  }
  assert.ok(lines.includes('retraining stopped: the analyzer is closing'), lines.join('\n'));
  assert.deepEqual(existsSync(outDir) ? readdirSync(outDir) : [], []);
  assert.equal(running.state.analyzer.model, null);
});

test('a retraining keeps the newest versions (--retrain-keep) and the one in use; the shipped artifact and other directories stay; what it removed is counted and logged', async () => {
  const outDir = join(tmp, 'prune');
  const analyzer = fakeAnalyzer();
  const { lines, log } = recorder();
  // a first version, copied as older ones, one from a clock ahead of ours, the shipped artifact and something else
  const first = (await retrain(analyzer, { outDir, ...small }, T0 - 600_000, () => undefined))!;
  for (const ts of [T0 - 500_000, T0 - 400_000, T0 - 300_000, T0 + 86_400_000]) cpSync(first, join(outDir, `autoencoder-r${ts}`), { recursive: true });
  cpSync(first, join(outDir, 'autoencoder-v1'), { recursive: true });
  mkdirSync(join(outDir, 'notes'));
  const dir = await retrain(analyzer, { outDir, ...small, keep: 2 }, T0, log);
  assert.equal(dir, join(outDir, `autoencoder-r${T0}`));
  assert.equal(analyzer.current!.metadata.version, `autoencoder-r${T0}`);
  // the newest two by name are r(T0 + 1d) and r(T0); the one in use would stay even if it were not
  assert.deepEqual(readdirSync(outDir).sort(), ['autoencoder-r' + (T0 + 86_400_000), `autoencoder-r${T0}`, 'autoencoder-v1', 'notes'].sort());
  assert.match(await analyzer.metrics.registry.getSingleMetricAsString('ratewarden_model_versions_pruned_total'), /ratewarden_model_versions_pruned_total 4/);
  assert.ok(lines.some((l) => /removed 4 retrained model version\(s\) beyond the newest 2: /.test(l) && l.includes(`autoencoder-r${T0 - 600_000}`)), lines.join('\n'));

  // keep 1 with a version from a clock ahead: the one in use is never removed
  const next = await retrain(analyzer, { outDir, ...small, keep: 1 }, T0 + 1, log);
  assert.deepEqual(readdirSync(outDir).sort(), ['autoencoder-r' + (T0 + 86_400_000), `autoencoder-r${T0 + 1}`, 'autoencoder-v1', 'notes'].sort());
  assert.equal(next, join(outDir, `autoencoder-r${T0 + 1}`));
  assert.ok(existsSync(join(next!, 'weights.bin')));
  analyzer.current!.dispose();
});
