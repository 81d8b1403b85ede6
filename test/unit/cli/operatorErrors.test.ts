/**
 * The operator commands when what answers is not the operator API, or what the operator gave is not
 * usable: a wrong --url (the sidecar's port, a proxy's login page) answering 200 with HTML or other
 * JSON is an API error (exit 1) with a message saying so — never a stack trace, never a reported
 * success — and a URL with credentials, an unparsable URL, an empty token file or a token that is
 * not one word are usage errors (exit 2) before anything is sent, without printing the secret.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './run.js';

let server: Server;
let url: string;
/** What the stub answers every request with. */
let answer: { status?: number; type: string; body: string } = { type: 'text/html', body: '<!doctype html><title>shop</title>' };
const seen: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'rw-opcli-'));

before(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.statusCode = answer.status ?? 200;
      res.setHeader('content-type', answer.type);
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  seen.length = 0;
  answer = { type: 'text/html', body: '<!doctype html><title>shop</title>' };
});

const env = () => ({ RW_ANALYZER_URL: url, RW_ADMIN_TOKEN: 'admin-token', RW_OPERATOR: 'tester' });

const COMMANDS = [
  ['anomalies', 'list'],
  ['anomalies', 'show', 'an-1'],
  ['anomalies', 'confirm', 'an-1'],
  ['anomalies', 'dismiss', 'an-1', '--note', 'fp'],
  ['blocks', 'list'],
  ['blocks', 'add', 'ip:203.0.113.7', '--ttl', '10m'],
  ['blocks', 'remove', 'ip:203.0.113.7'],
];

test('a 200 answer in HTML (a wrong --url) is an API error naming the URL, for every command: exit 1, no stack trace, no "unblocked"', async () => {
  for (const args of COMMANDS) {
    const r = await cli(args, { env: env(), stdin: '' });
    const what = args.join(' ');
    assert.equal(r.code, 1, `${what}: code ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^ratewarden ${args[0]}: .*did not answer as the operator API does \\(not JSON: text/html\\); is ${url.replace(/[.]/g, '\\.')} the analyzer`, 'm'), what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: stack trace\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /unblocked|blocked ip|confirmed|dismissed/, what);
  }
});

test('a 200 answer in JSON of another shape is an API error too (exit 1), not a crash or a success', async () => {
  answer = { type: 'application/json', body: '{"status":"ok"}' };
  for (const args of COMMANDS) {
    const r = await cli(args, { env: env(), stdin: '' });
    const what = args.join(' ');
    assert.equal(r.code, 1, `${what}: code ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /did not answer as the operator API does \(unexpected JSON\)/, what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: stack trace\n${r.stderr}`);
    assert.equal(r.stdout, '', what);
  }
});

test('--url with a user name and password is a usage error that does not print the password; nothing is sent', async () => {
  const withCreds = url.replace('http://', 'http://ops:s3cret-pw@');
  const r = await cli(['blocks', 'list', '--url', withCreds], { env: env(), stdin: '' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^ratewarden blocks: --url must not carry a user name or password/m);
  assert.ok(!(r.stdout + r.stderr).includes('s3cret-pw'), r.stderr);
  assert.deepEqual(seen, []);
});

test('an --url that is no URL is a usage error, not a stack trace', async () => {
  const r = await cli(['anomalies', 'list', '--url', 'http://[::1'], { env: env(), stdin: '' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^ratewarden anomalies: --url "http:\/\/\[::1" is not a URL/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('an empty --token-file is a usage error naming the file (it was silently no token, and the 401 asked for --token-file)', async () => {
  const file = join(dir, 'empty.token');
  writeFileSync(file, '\n');
  const r = await cli(['blocks', 'list', '--token-file', file], { env: { RW_ANALYZER_URL: url }, stdin: '' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`--token-file ${file.replace(/[.]/g, '\\.')} is empty`));
  assert.deepEqual(seen, []);
});

test('a token that is not one word (two lines in the file, a space in the variable) is a usage error that does not print it; nothing is sent', async () => {
  const file = join(dir, 'two-lines.token');
  writeFileSync(file, 'first-secret-line\nsecond-secret-line\n');
  const fromFile = await cli(['blocks', 'list', '--token-file', file], { env: { RW_ANALYZER_URL: url }, stdin: '' });
  assert.equal(fromFile.code, 2, fromFile.stderr);
  assert.match(fromFile.stderr, /the token from --token-file .* contains whitespace, control or non-ASCII characters/);
  assert.doesNotMatch(fromFile.stderr, /secret-line/);
  const fromEnv = await cli(['blocks', 'list'], { env: { RW_ANALYZER_URL: url, RW_ADMIN_TOKEN: 'abc def-secret' }, stdin: '' });
  assert.equal(fromEnv.code, 2, fromEnv.stderr);
  assert.match(fromEnv.stderr, /the token from RW_ADMIN_TOKEN contains whitespace/);
  assert.doesNotMatch(fromEnv.stderr, /def-secret/);
  assert.doesNotMatch(fromEnv.stderr, /cannot reach the analyzer/);
  assert.deepEqual(seen, []);
});

test('a non-2xx answer that is no problem+json (a proxy\'s 502 page) says what answered, exit 1', async () => {
  answer = { status: 502, type: 'text/html', body: '<html>bad gateway</html>' };
  const r = await cli(['anomalies', 'list'], { env: env(), stdin: '' });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `ratewarden anomalies: Bad Gateway from ${url}/api/anomalies (text/html, not the operator API's problem+json) (HTTP 502, http_error)\n`);
});
