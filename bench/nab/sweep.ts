/**
 * Research tool: runs the series detector with parameter overrides in-process over the NAB dev
 * files and writes every configuration's scores to one JSON file, which bench/nab/sweep_score.py
 * scores (overall, per category, leave-one-category-out). Not part of the benchmark or tests.
 *
 *   node --import tsx bench/nab/sweep.ts '{"base":{},"k2":{"clipK":2}}' /tmp/sweep.json [NAB_DIR] [profile]
 *   python3 bench/nab/sweep_score.py /tmp/sweep.json [NAB_DIR]
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSeriesDetector, parseUtcTimestamp, type SeriesParams, type SeriesProfile } from '../../analyzer/detectors/series/index.js';

const grid = JSON.parse(process.argv[2] ?? '{"base":{}}') as Record<string, Partial<SeriesParams>>;
const outFile = process.argv[3] ?? '/tmp/sweep.json';
const nabDir = process.argv[4] ?? join(import.meta.dirname, '../../../shared/data/nab-dev');
const profile = (process.argv[5] ?? 'full') as SeriesProfile;

const dataDir = join(nabDir, 'data');
const files: { rel: string; ts: number[]; xs: number[] }[] = [];
for (const cat of readdirSync(dataDir).sort()) {
  for (const f of readdirSync(join(dataDir, cat)).sort()) {
    const rows = readFileSync(join(dataDir, cat, f), 'utf8').trim().split('\n').slice(1);
    files.push({
      rel: `${cat}/${f}`,
      ts: rows.map((r) => parseUtcTimestamp(r.split(',')[0]!)),
      xs: rows.map((r) => Number(r.split(',')[1])),
    });
  }
}
const out: Record<string, Record<string, number[]>> = {};
for (const [name, params] of Object.entries(grid)) {
  const perFile: Record<string, number[]> = {};
  for (const f of files) {
    const d = createSeriesDetector({ profile, params });
    perFile[f.rel] = f.xs.map((x, i) => d.update(x, f.ts[i]!));
  }
  out[name] = perFile;
}
writeFileSync(outFile, JSON.stringify(out));
