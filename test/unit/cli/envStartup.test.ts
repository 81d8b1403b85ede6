/**
 * Environment the programs read at start (README "Environment"): a value they cannot use is one line
 * naming the variable and exit 2 — never a stack trace with exit 1 — and an empty value (`value: ""`
 * in a manifest) is the default, as for the other RW_* variables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { logLevelFromEnv } from '../../../models/infra.js';
import { parseSidecarArgs } from '../../../sidecar/config.js';
import { parseAnalyzerArgs } from '../../../analyzer/config.js';
import { createLogger } from '../../../sidecar/log.js';
import { ROOT, cleanEnv, cli } from './run.js';

const POLICY = join(ROOT, 'examples', 'demo-policy.yaml');

/** The stderr lines that are not JSON logs. */
function messages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

test('RW_LOG_LEVEL: unset or empty is info, case does not matter, an unknown level is a config error naming the variable', () => {
  assert.equal(logLevelFromEnv({}), 'info');
  assert.equal(logLevelFromEnv({ RW_LOG_LEVEL: '' }), 'info');
  assert.equal(logLevelFromEnv({ RW_LOG_LEVEL: 'DEBUG' }), 'debug');
  assert.equal(logLevelFromEnv({ RW_LOG_LEVEL: 'silent' }), 'silent');
  assert.throws(() => logLevelFromEnv({ RW_LOG_LEVEL: 'verbose' }), (err: Error & { code?: string }) => err.code === 'RW_CONFIG_ARG' && /RW_LOG_LEVEL: "verbose" is not a log level/.test(err.message));
  const base = ['--config', POLICY, '--upstream', 'http://127.0.0.1:9'];
  assert.equal(parseSidecarArgs(base, { RW_LOG_LEVEL: '' }).logLevel, 'info');
  assert.throws(() => parseSidecarArgs(base, { RW_LOG_LEVEL: 'verbose' }), /RW_LOG_LEVEL/);
  assert.equal(parseAnalyzerArgs(['--config', POLICY], { RW_LOG_LEVEL: 'Warn' }).logLevel, 'warn');
  assert.throws(() => parseAnalyzerArgs(['--config', POLICY], { RW_LOG_LEVEL: 'verbose' }), /RW_LOG_LEVEL/);
});

test('createLogger with RW_LOG_LEVEL empty in the environment logs at info (pino threw on the empty level)', () => {
  const before = process.env.RW_LOG_LEVEL;
  process.env.RW_LOG_LEVEL = '';
  try {
    const logger = createLogger({ sync: true, fd: 2 });
    assert.equal(logger.level, 'info');
  } finally {
    if (before === undefined) delete process.env.RW_LOG_LEVEL;
    else process.env.RW_LOG_LEVEL = before;
  }
});

test('sidecar: an unknown RW_LOG_LEVEL is one line and exit 2, not a stack trace', async () => {
  const r = await cli(['sidecar', '--config', POLICY, '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: { RW_LOG_LEVEL: 'verbose' } });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(messages(r.stderr), ['ratewarden: RW_LOG_LEVEL: "verbose" is not a log level (fatal, error, warn, info, debug, trace, silent) [RW_CONFIG_ARG]']);
});

test('analyzer: an unknown RW_LOG_LEVEL is one line and exit 2', async () => {
  const r = await cli(['analyzer', '--config', POLICY], { env: { RW_LOG_LEVEL: 'verbose' } });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(messages(r.stderr), ['ratewarden: RW_LOG_LEVEL: "verbose" is not a log level (fatal, error, warn, info, debug, trace, silent) [RW_CONFIG_ARG]']);
});

test('sidecar: RW_LOG_LEVEL set but empty starts at level info (it was a stack trace and exit 1)', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'sidecar', '--config', POLICY, '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'],
    { cwd: ROOT, env: cleanEnv({ RW_LOG_LEVEL: '' }), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const outcome = await new Promise<string>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/"msg":"ready"/.test(stdout)) resolve('ready');
    });
    child.on('exit', (code) => resolve(`exited ${code}`));
  });
  child.kill('SIGKILL');
  assert.equal(outcome, 'ready', stderr);
  assert.match(stdout, /"level":"info"/);
});

test('demo: an RW_UPSTREAM that is not an http(s) URL is one line and exit 2, before anything starts', async () => {
  for (const [value, line] of [
    ['not a url', 'ratewarden: RW_UPSTREAM: "not a url" is not a URL (e.g. http://127.0.0.1:3000) [RW_CONFIG_ARG]'],
    ['ftp://127.0.0.1/', 'ratewarden: RW_UPSTREAM must be http:// or https:// (got ftp:) [RW_CONFIG_ARG]'],
  ] as const) {
    const r = await cli(['demo', '--no-traffic', '--listen', '127.0.0.1:0', '--ui', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: { RW_UPSTREAM: value } });
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(messages(r.stderr), [line]);
    assert.equal(r.stdout, '', 'nothing started');
  }
});

test('demo: an RW_ADMIN_TOKEN / RW_READONLY_TOKEN that is no bearer token is one line and exit 2, before anything starts, without printing it', async () => {
  for (const [name, value] of [['RW_ADMIN_TOKEN', 'two words'], ['RW_READONLY_TOKEN', 'caf\u00e9-token']] as const) {
    const r = await cli(['demo', '--no-traffic', '--listen', '127.0.0.1:0', '--ui', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: { [name]: value } });
    const line = `ratewarden: ${name} contains white space, control or non-ASCII characters: a bearer token is one word of printable ASCII [RW_CONFIG_ARG]`;
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(messages(r.stderr), [line]);
    assert.equal(r.stdout, '', 'nothing started');
  }
});

test('sidecar: RW_DRAIN_SECONDS / RW_SHUTDOWN_DELAY set but empty are their defaults (an empty drain was 0 s: SIGTERM cut every request in flight)', () => {
  const base = ['--config', POLICY, '--upstream', 'http://127.0.0.1:9'];
  const c = parseSidecarArgs(base, { RW_DRAIN_SECONDS: '', RW_SHUTDOWN_DELAY: '' });
  assert.equal(c.drainSeconds, 10);
  assert.equal(c.shutdownDelaySeconds, 0);
  assert.equal(parseSidecarArgs(base, { RW_DRAIN_SECONDS: '3' }).drainSeconds, 3);
  assert.equal(parseSidecarArgs([...base, '--drain-seconds', '0'], { RW_DRAIN_SECONDS: '30' }).drainSeconds, 0, 'the flag wins');
  // a blank value given on purpose is a mistake, not zero
  assert.throws(() => parseSidecarArgs([...base, '--drain-seconds', ''], {}), /--drain-seconds \(RW_DRAIN_SECONDS\) must be a number/);
  assert.throws(() => parseSidecarArgs(base, { RW_DRAIN_SECONDS: ' ' }), /--drain-seconds \(RW_DRAIN_SECONDS\) must be a number/);
  assert.throws(() => parseSidecarArgs(base, { RW_SHUTDOWN_DELAY: 'x' }), /--shutdown-delay \(RW_SHUTDOWN_DELAY\) must be a number/);
});

test('analyzer: RW_GROUP_ID set but empty is the default group (kafkajs refused the empty id and the analyzer consumed nothing)', () => {
  assert.equal(parseAnalyzerArgs(['--config', POLICY], { RW_GROUP_ID: '' }).groupId, 'ratewarden-analyzer');
  assert.equal(parseAnalyzerArgs(['--config', POLICY], { RW_GROUP_ID: 'g1' }).groupId, 'g1');
  assert.equal(parseAnalyzerArgs(['--config', POLICY, '--group', 'g2'], { RW_GROUP_ID: 'g1' }).groupId, 'g2', 'the flag wins');
  assert.throws(() => parseAnalyzerArgs(['--config', POLICY, '--group', ''], {}), /--group must not be empty/);
});
