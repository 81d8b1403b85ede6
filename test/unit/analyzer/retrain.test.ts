import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import { loadAutoencoder, retrain, shippedModelDir } from '../../../analyzer/model.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { T0, ev, policy } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rw-retrain-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('retraining learns from the windows that scored as normal and swaps the new model in', { timeout: 60_000 }, async () => {
  const lines: string[] = [];
  const log = (_level: string, msg: string) => void lines.push(msg);
  let now = T0;
  const analyzer = new Analyzer({ policy: policy(), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => now, autoencoder: await loadAutoencoder(shippedModelDir(), log) });
  assert.equal(analyzer.model!.metadata.version, 'autoencoder-v1');
  for (let s = 0; s < 400; s++) {
    analyzer.ingest(Array.from({ length: 30 }, (_, c) => ev({ ts: now + c * 10, client: `ip:10.0.${c}.1`, route: `/api/r${(s + c) % 5}` })));
    now += 1_000;
    await analyzer.tick(now);
  }
  assert.ok(analyzer.trainingSample().length > 1_000);
  assert.equal(await retrain(analyzer, { outDir: dir, minVectors: 1_000_000 }, now, log), null, 'too few windows: the model stays');
  const written = await retrain(analyzer, { outDir: dir, minVectors: 500, epochs: 2 }, now, log);
  assert.ok(written && existsSync(join(written, 'metadata.json')));
  assert.equal(analyzer.model!.metadata.version, `autoencoder-r${now}`);
  assert.match(analyzer.model!.metadata.training.source, /analyzer reservoir/);
  assert.ok(lines.some((l) => /learned model autoencoder-r\d+ loaded/.test(l)));
});
