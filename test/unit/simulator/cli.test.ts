import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCallEvent } from '../../../models/events.js';
import { runSimulatorCli } from '../../../simulator/cli.js';
import { createSimulation } from '../../../simulator/generate.js';
import { defaultScenarios } from '../../../simulator/scenarios.js';

test('generate writes the simulation’s events as JSON lines and its labels beside them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-sim-'));
  try {
    const out = join(dir, 'events.jsonl');
    const code = await runSimulatorCli(['generate', '--seed', '3', '--duration', '5m', '--clients', '30', '--out', out]);
    assert.equal(code, 0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    const expected = createSimulation({ seed: '3', duration: 300_000, population: { clients: 30 }, scenarios: defaultScenarios(300_000) });
    assert.equal(lines.length, [...expected.events()].length);
    for (const line of lines.slice(0, 200)) assert.ok(decodeCallEvent(line).ok);
    const labels = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')) as { labels: unknown[]; startMs: number; endMs: number };
    assert.deepEqual(labels.labels, JSON.parse(JSON.stringify(expected.labels)));
    assert.equal(labels.endMs - labels.startMs, 300_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown scenario or duration is refused', async () => {
  await assert.rejects(runSimulatorCli(['generate', '--scenarios', 'ddos', '--out', '/dev/null']), /unknown scenario "ddos"/);
  await assert.rejects(runSimulatorCli(['generate', '--duration', 'forever', '--out', '/dev/null']), /--duration/);
});
