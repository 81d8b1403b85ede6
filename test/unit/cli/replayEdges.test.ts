/**
 * `ratewarden replay` at the edges of its input and output: a reader that goes away (`| head`) or a
 * full disk, quoted CSV fields, values that are no decimal number, timestamps that are no
 * timestamp, and the file shapes that must keep working (CRLF, BOM, blank and trailing lines,
 * header only, empty, no header).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readLines } from '../../../cli/commands/replay.js';
import { cli, cleanEnv, ROOT } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'rw-replay-edges-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function csv(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

function rows(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`${new Date(Date.UTC(2014, 3, 1) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19)},${(20 + 10 * Math.sin(i / 20) + (i === 150 ? 60 : 0)).toFixed(3)}`);
  return out;
}

const scores = (stdout: string) => stdout.trim().split('\n');

test('a reader that stops reading (| head) ends the replay quietly with exit 0, not an unhandled EPIPE', async () => {
  const file = csv('big.csv', ['timestamp,value', ...rows(200_000)].join('\n') + '\n');
  const r = await new Promise<{ code: number | null; signal: string | null; stderr: string; got: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'replay', file], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let got = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // like `head -1`: take the first chunk, then close the pipe
    child.stdout.once('data', (d: Buffer) => {
      got = d.toString();
      child.stdout.destroy();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, got });
    });
  });
  assert.match(r.got, /^0\n/);
  assert.equal(r.signal, null);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

// on Linux's /dev/full (a test that cannot run fails, it never skips)
test('a failure to write the scores (a full disk) is exit 1 with one line, not a stack trace', async () => {
  const file = csv('full.csv', ['timestamp,value', ...rows(50_000)].join('\n') + '\n');
  const fd = openSync('/dev/full', 'w');
  try {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'replay', file], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', fd, 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^ratewarden replay: cannot write the scores: ENOSPC/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    closeSync(fd);
  }
});

test('quoted fields (every field quoted, or only the timestamp) score exactly as the plain file', async () => {
  const data = rows(300);
  const plain = await cli(['replay', csv('plain.csv', ['timestamp,value', ...data].join('\n') + '\n')]);
  assert.equal(plain.code, 0, plain.stderr);
  const all = await cli(['replay', csv('quote-all.csv', ['"timestamp","value"', ...data.map((r) => r.split(',').map((f) => `"${f}"`).join(','))].join('\r\n') + '\r\n')]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, plain.stdout);
  const nonNumeric = await cli(['replay', csv('quote-ts.csv', ['"timestamp","value"', ...data.map((r) => r.replace(/^([^,]+),/, '"$1",'))].join('\n') + '\n')]);
  assert.equal(nonNumeric.code, 0, nonNumeric.stderr);
  assert.equal(nonNumeric.stdout, plain.stdout);
  // a quoted empty value is a missing point, like an empty one
  const missing = await cli(['replay', csv('quote-empty.csv', 'timestamp,value\n"2014-04-01 00:00:00","1"\n"2014-04-01 00:05:00",""\n')]);
  assert.equal(missing.code, 0, missing.stderr);
  assert.deepEqual(scores(missing.stdout), ['0', '0']);
});

test('an unbalanced quote is a malformed row with its line', async () => {
  const r = await cli(['replay', csv('unbalanced.csv', 'timestamp,value\n2014-04-01 00:00:00,1\n"2014-04-01 00:05:00,2\n')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unbalanced\.csv:3: unbalanced double quotes/);
});

test('a value that is no decimal number (0x10, 0b1, 0o7, 1_000) is refused with its line, not read as 16, 1, 7', async () => {
  for (const value of ['0x10', '0b1', '0o7', '1_000', '1e', '--1']) {
    const r = await cli(['replay', csv('radix.csv', `timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,${value}\n`)]);
    assert.equal(r.code, 2, `${value}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`radix\\.csv:3: value "${value}" is not a number`), value);
  }
  // decimal forms stay numbers; -Infinity is out of range like Infinity
  const ok = await cli(['replay', csv('decimals.csv', 'timestamp,value\n2014-04-01 00:00:00,.5\n2014-04-01 00:05:00,5.\n2014-04-01 00:10:00,+1E-3\n2014-04-01 00:15:00,-2\n')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(scores(ok.stdout).length, 4);
  const inf = await cli(['replay', csv('neginf.csv', 'timestamp,value\n2014-04-01 00:00:00,-inf\n')]);
  assert.equal(inf.code, 2);
  assert.match(inf.stderr, /neginf\.csv:2: value "-inf" is out of range/);
});

test('a timestamp that is no timestamp ("hello 2014", "Apr 1 2014" in local time, 2014-02-30, 2014-13-01) is refused, not guessed', async () => {
  for (const ts of ['hello 2014', 'Apr 1 2014', '04/01/2014 00:00', '2014-02-30 00:00:00', '2014-13-01 00:00:00', '2014-02-30']) {
    const r = await cli(['replay', csv('ts.csv', `timestamp,value\n2014-04-01 00:00:00,1\n${ts},2\n`)]);
    assert.equal(r.code, 2, `${ts}: ${r.stdout}`);
    assert.match(r.stderr, /ts\.csv:3: unreadable timestamp/, ts);
  }
  // what the contract names keeps working: NAB form, ISO 8601 with a zone, a date, epoch ms
  const ok = await cli(['replay', csv('ts-ok.csv', 'timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01T00:05:00Z,1\n2014-04-01T02:10:00+02:00,1\n2014-04-02,1\n1396310700000,1\n')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(scores(ok.stdout).length, 5);
});

test('file shapes that keep working: CRLF, a BOM, blank and trailing lines, header only; empty and header-less files are exit 2', async () => {
  const data = rows(40);
  const plain = await cli(['replay', csv('p.csv', ['timestamp,value', ...data].join('\n') + '\n')]);
  assert.equal(plain.code, 0, plain.stderr);
  const crlfBom = await cli(['replay', csv('crlf.csv', '\uFEFFtimestamp,value\r\n' + data.join('\r\n') + '\r\n\r\n\r\n')]);
  assert.equal(crlfBom.code, 0, crlfBom.stderr);
  assert.equal(crlfBom.stdout, plain.stdout);
  const noFinalNewline = await cli(['replay', csv('nofinal.csv', ['timestamp,value', ...data.slice(0, 10), '', ...data.slice(10)].join('\n'))]);
  assert.equal(noFinalNewline.stdout, plain.stdout);
  const headerOnly = await cli(['replay', csv('header-only.csv', 'timestamp,value\n')]);
  assert.equal(headerOnly.code, 0, headerOnly.stderr);
  assert.equal(headerOnly.stdout, '');
  const empty = await cli(['replay', csv('empty.csv', '')]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /empty file/);
  const noHeader = await cli(['replay', csv('noheader.csv', data.join('\n') + '\n')]);
  assert.equal(noHeader.code, 2);
  assert.match(noHeader.stderr, /noheader\.csv:1: expected the header "timestamp,value"/);
  assert.equal(noHeader.stdout, '');
});

test('a line with no end in sight (a file without line ends, 1 GiB) is exit 2 naming its line, read no further: not a RangeError stack trace or the whole line in memory', { timeout: 120_000 }, async () => {
  // sparse: a header, a row, then one line of zeros that never ends, 1 GiB (over V8's longest string)
  const file = join(dir, 'one-line.csv');
  writeFileSync(file, 'timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,');
  const fd = openSync(file, 'r+');
  ftruncateSync(fd, 1024 * 1024 * 1024);
  closeSync(fd);
  const r = await cli(['replay', file], { timeoutMs: 100_000 });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^ratewarden replay: .*one-line\.csv:3: line longer than 65536 characters/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  // every shape of line end still splits as before, also across chunk boundaries (a \r at the end of a 64 KiB chunk, its \n in the next)
  const data = rows(3000);
  const plain = await cli(['replay', csv('split-plain.csv', ['timestamp,value', ...data].join('\n') + '\n')]);
  const mixed = await cli(['replay', csv('split-mixed.csv', 'timestamp,value\r' + data.map((d, i) => d + ['\r\n', '\r', '\n'][i % 3]).join(''))]);
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.equal(mixed.stdout, plain.stdout);
  assert.equal(scores(mixed.stdout).length, 3000);
});

test('lines split as readline split them, wherever the chunks break: \\n, \\r\\n (also across two chunks), a lone \\r, a last line without an end, UTF-8 across chunks', async () => {
  const text = Buffer.from('a\r\nb\rc\n\nd\r\r\né\u00e9€,1\r\nlast');
  const expected = ['a', 'b', 'c', '', 'd', '', 'é\u00e9€,1', 'last'];
  for (let cut = 0; cut <= text.length; cut++) {
    const got: string[] = [];
    for await (const line of readLines(Readable.from([text.subarray(0, cut), text.subarray(cut)]))) got.push(line);
    assert.deepEqual(got, expected, `cut at ${cut}`);
  }
});

test('what a bad row quotes is shown with its control characters escaped: a binary file or a terminal escape in a value is no raw bytes on the terminal', async () => {
  const r = await cli(['replay', csv('escape.csv', 'timestamp,value\n2014-04-01 00:00:00,\u001b[31mred\u0000\n')]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `ratewarden replay: ${join(dir, 'escape.csv')}:2: value "\\x1b[31mred\\x00" is not a number\n`);
  const binary = await cli(['replay', csv('binary.csv', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x9b, 0x0a]).toString('latin1'))]);
  assert.equal(binary.code, 2);
  assert.doesNotMatch(binary.stderr.trimEnd(), /[\u0000-\u001f\u007f-\u009f]/);
  assert.match(binary.stderr, /binary\.csv:1: expected the header "timestamp,value", found "\\x7fELF\\x02\\x01/);
});
