/**
 * `ratewarden` itself and the start-up of its long-running programs (sidecar, analyzer, demo):
 * usage errors exit 2 with the error code on the message's line and the usage after it; a listen
 * address that is in use or not on this host is one line and exit 2, not a stack trace; and the
 * analyzer exits after a failed start instead of staying alive on its Redis and Kafka clients.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, closedPort, occupiedPort } from './run.js';

const POLICY = join(ROOT, 'examples', 'demo-policy.yaml');
let busy: Awaited<ReturnType<typeof occupiedPort>>;
before(async () => {
  busy = await occupiedPort();
});
after(async () => {
  await busy?.close();
});

test('ratewarden with no command prints the usage on stderr, not stdout, and exits 2', async () => {
  const r = await cli([]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^usage: ratewarden <command>/);
  assert.match(r.stderr, /^ {2}sidecar /m);
});

test('ratewarden --version prints the package version and exits 0, from source as from dist (it read a package.json one level too far up)', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await cli(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${version}\n`);
});

test('ratewarden --help prints the usage on stdout and exits 0', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^usage: ratewarden <command>/);
  assert.equal(r.stderr, '');
});

const usageCases: Array<[string, string[], RegExp, RegExp]> = [
  ['sidecar', ['sidecar', '--config', POLICY], /^ratewarden: --upstream is required \[RW_CONFIG_ARG\]$/, /^usage: ratewarden sidecar /],
  ['sidecar', ['sidecar', '--bogus'], /^ratewarden: Unknown option '--bogus'.* \[RW_CONFIG_ARG\]$/, /^usage: ratewarden sidecar /],
  ['analyzer', ['analyzer'], /^ratewarden: --config is required \[RW_CONFIG_ARG\]$/, /^usage: ratewarden analyzer /],
  ['analyzer', ['analyzer', '--config', POLICY, '--retrain-every', '5s'], /^ratewarden: --retrain-every: "5s" is not a duration .* \[RW_CONFIG_ARG\]$/, /^usage: ratewarden analyzer /],
  ['analyzer', ['analyzer', '--train'], /^ratewarden: --train needs --out DIR .* \[RW_CONFIG_ARG\]$/, /^usage: ratewarden analyzer /],
  ['demo', ['demo', '--bogus'], /^ratewarden: Unknown option '--bogus'.* \[RW_CONFIG_ARG\]$/, /^usage: ratewarden demo /],
];
for (const [name, args, message, usage] of usageCases) {
  test(`a usage error of ${name} (${args.slice(1).join(' ')}) keeps its code on the message line and prints the usage after it`, async () => {
    const r = await cli(args);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0]!, message);
    assert.match(lines[1]!, usage);
    assert.ok(!lines.slice(1).some((l) => l.includes('[RW_')), `the code is glued onto a usage line:\n${r.stderr}`);
  });
}

/** The stderr lines that are not JSON logs (pino writes those to stdout, but be sure). */
function messages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

test('sidecar: a --listen port in use is one line and exit 2, not a stack trace', async () => {
  const r = await cli(['sidecar', '--config', POLICY, '--upstream', 'http://127.0.0.1:9', '--listen', `127.0.0.1:${busy.port}`, '--admin', '127.0.0.1:0']);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(messages(r.stderr), [`ratewarden: cannot listen on 127.0.0.1:${busy.port}: address already in use`]);
});

test('sidecar: an --admin address that is not on this host is one line and exit 2', async () => {
  // 192.0.2.1 is TEST-NET-1: never an address of this machine
  const r = await cli(['sidecar', '--config', POLICY, '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--admin', '192.0.2.1:9091']);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(messages(r.stderr), ['ratewarden: cannot listen on 192.0.2.1:9091: address not available on this host']);
});

test('analyzer: a --listen port in use is one line and exit 2, and the process exits although its Redis and Kafka clients exist', async () => {
  // nothing listens at the Redis and Kafka addresses: ioredis would reconnect for ever and keep a
  // process alive that did not close it
  const dead = await closedPort();
  const r = await cli(['analyzer', '--config', POLICY, '--listen', `127.0.0.1:${busy.port}`, '--model', 'none'], {
    env: { REDIS_URL: `redis://127.0.0.1:${dead}`, KAFKA_BROKERS: `127.0.0.1:${dead}`, RW_STATE_SNAPSHOT_EVERY: 'off' },
    timeoutMs: 20_000,
  });
  assert.notEqual(r.code, null, `the analyzer was still running after 20 s:\n${r.stderr}`);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(messages(r.stderr), [`ratewarden: cannot listen on 127.0.0.1:${busy.port}: address already in use`]);
});

test('demo: a --listen port in use is one line and exit 2, after closing the analyzer it had started', async () => {
  const r = await cli(['demo', '--no-traffic', '--listen', `127.0.0.1:${busy.port}`, '--ui', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(messages(r.stderr), [`ratewarden: cannot listen on 127.0.0.1:${busy.port}: address already in use`]);
});

test('demo: a --ui port in use is one line and exit 2', async () => {
  const r = await cli(['demo', '--no-traffic', '--listen', '127.0.0.1:0', '--ui', `127.0.0.1:${busy.port}`, '--admin', '127.0.0.1:0']);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(messages(r.stderr), [`ratewarden: cannot listen on 127.0.0.1:${busy.port}: address already in use`]);
});
