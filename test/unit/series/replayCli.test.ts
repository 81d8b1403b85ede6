import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'rw-replay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function replay(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'replay', ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

function csv(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

function nabRows(n: number): string {
  const rows = ['timestamp,value'];
  for (let i = 0; i < n; i++) {
    const t = new Date(Date.UTC(2014, 3, 1) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
    rows.push(`${t},${(20 + 10 * Math.sin(i / 20) + (i === 400 ? 50 : 0)).toFixed(3)}`);
  }
  return rows.join('\n') + '\n';
}

test('replay prints exactly one score in [0, 1] per data row and exits 0', async () => {
  const r = await replay([csv('ok.csv', nabRows(600))]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 600);
  for (const l of lines) {
    const s = Number(l);
    assert.ok(s >= 0 && s <= 1, l);
  }
});

test('replay takes a quoted header ("timestamp","value") and scores the same', async () => {
  const body = nabRows(100);
  const plain = await replay([csv('plain.csv', body)]);
  const quoted = await replay([csv('quoted.csv', body.replace('timestamp,value', '"timestamp","value"'))]);
  assert.equal(quoted.code, 0, quoted.stderr);
  assert.equal(quoted.stdout, plain.stdout);
});

test('replay reads stdin when the file is -', async () => {
  const body = nabRows(100);
  const fromFile = await replay([csv('stdin.csv', body)]);
  const fromStdin = await replay(['-'], body);
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal(fromStdin.stdout, fromFile.stdout);
});

test('replay --detector zscore runs the baseline and gives other scores', async () => {
  const file = csv('base.csv', nabRows(600));
  const [series, zscore] = await Promise.all([replay([file]), replay(['--detector', 'zscore', file])]);
  assert.equal(zscore.code, 0, zscore.stderr);
  assert.equal(zscore.stdout.trim().split('\n').length, 600);
  assert.notEqual(zscore.stdout, series.stdout);
});

test('replay scores a row with an empty or NaN value 0 and keeps going', async () => {
  const r = await replay([csv('missing.csv', 'timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,\n2014-04-01 00:10:00,NaN\n2014-04-01 00:15:00,2\n')]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').slice(1, 3), ['0', '0']);
  assert.equal(r.stdout.trim().split('\n').length, 4);
});

test('replay rejects a wrong header with exit 2 and line 1', async () => {
  const r = await replay([csv('header.csv', 'time,val\n2014-04-01 00:00:00,1\n')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /header\.csv:1: expected the header "timestamp,value"/);
});

test('replay rejects a non-numeric value with exit 2 and its line number', async () => {
  const r = await replay([csv('value.csv', 'timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,2\n2014-04-01 00:10:00,abc\n')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /value\.csv:4: value "abc" is not a number/);
});

test('replay rejects an unreadable timestamp or a wrong field count with exit 2 and the line', async () => {
  const ts = await replay([csv('ts.csv', 'timestamp,value\nyesterday-ish,1\n')]);
  assert.equal(ts.code, 2);
  assert.match(ts.stderr, /ts\.csv:2: unreadable timestamp/);
  const fields = await replay([csv('fields.csv', 'timestamp,value\n2014-04-01 00:00:00,1,2\n')]);
  assert.equal(fields.code, 2);
  assert.match(fields.stderr, /fields\.csv:2: expected 2 fields/);
});

test('replay exits 2 on a missing file, an unknown detector or no file argument', async () => {
  const missing = await replay([join(dir, 'nope.csv')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read/);
  const unknown = await replay(['--detector', 'nope', csv('u.csv', nabRows(3))]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown detector "nope"/);
  assert.equal((await replay([])).code, 2);
});

test('replay --min-scale takes a non-negative number and refuses anything else with exit 2', async () => {
  const file = csv('ms.csv', nabRows(50));
  const ok = await replay(['--min-scale', '1', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim().split('\n').length, 50);
  const bad = await replay(['--min-scale=-1', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--min-scale must be a number >= 0/);
});

test('replay --min-scale refuses what is no finite decimal number (empty, Infinity, 1e999, 0x10) with exit 2, instead of reading it as 0, ∞ or 16', async () => {
  const file = csv('ms-bad.csv', nabRows(50));
  for (const v of ['', ' ', 'Infinity', '1e999', '0x10', '1_0']) {
    const r = await replay([`--min-scale=${v}`, file]);
    assert.equal(r.code, 2, `--min-scale=${v}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--min-scale must be a number >= 0/);
  }
  const ok = await replay(['--min-scale', '1e-3', file]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('replay rejects a value beyond ±1e300 (Infinity included) with exit 2 and its line, instead of printing NaN', async () => {
  const rows = ['timestamp,value'];
  for (let i = 0; i < 50; i++) rows.push(`${new Date(Date.UTC(2014, 3, 1) + i * 300_000).toISOString()},${i % 2 ? '1e308' : '-1e308'}`);
  const r = await replay([csv('huge.csv', rows.join('\n') + '\n')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /huge\.csv:2: value "-1e308" is out of range/);
  assert.doesNotMatch(r.stdout, /NaN/);
  const inf = await replay([csv('inf.csv', 'timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,Infinity\n')]);
  assert.equal(inf.code, 2);
  assert.match(inf.stderr, /inf\.csv:3: value "Infinity" is out of range/);
});
