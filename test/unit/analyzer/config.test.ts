import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTrainInvocation, parseAnalyzerArgs, parseAnalyzerTrainArgs } from '../../../analyzer/config.js';
import { RatewardenError } from '../../../models/errors.js';

test('the analyzer defaults to the shipped model, no scheduled retraining and the rw:anomalies report prefix', () => {
  const c = parseAnalyzerArgs(['--config', 'p.yaml'], {});
  assert.equal(c.model, 'shipped');
  assert.equal(c.retrainEveryMs, null);
  assert.equal(c.reportsPrefix, 'rw:anomalies');
  assert.equal(c.fromBeginning, false);
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9090 });
});

test('model, retraining and prefixes come from flags over the environment', () => {
  const c = parseAnalyzerArgs(['--config', 'p.yaml', '--model', 'none', '--retrain-every', '6h'], { RW_MODEL_DIR: '/m', RW_RETRAIN_EVERY: '1d', RW_REPORTS_PREFIX: 'x:reports', RW_FROM_BEGINNING: '1', RW_MODEL_OUT: '/out' });
  assert.equal(c.model, 'none');
  assert.equal(c.retrainEveryMs, 6 * 3_600_000);
  assert.equal(c.reportsPrefix, 'x:reports');
  assert.equal(c.modelOut, '/out');
  assert.equal(c.fromBeginning, true);
});

test('a retraining period under a minute or not a duration is refused with the usage', () => {
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml', '--retrain-every', '10s'], {}), (e: unknown) => e instanceof RatewardenError && /--retrain-every/.test(e.message));
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml', '--retrain-every', 'soon'], {}), RatewardenError);
});

test('periods run as timers are at most 24d (Node fires a longer interval every millisecond)', () => {
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml', '--retrain-every', '24d'], {}).retrainEveryMs, 24 * 86_400_000);
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml', '--retrain-every', '30d'], {}), (e: unknown) => e instanceof RatewardenError && /--retrain-every.*24d/.test(e.message));
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml'], { RW_STATE_SNAPSHOT_EVERY: '24d' }).snapshotEveryMs, 24 * 86_400_000);
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml'], { RW_STATE_SNAPSHOT_EVERY: '30d' }), (e: unknown) => e instanceof RatewardenError && /RW_STATE_SNAPSHOT_EVERY.*24d/.test(e.message));
});

test('--train is its own invocation: an output directory is required, the source defaults to the simulator', () => {
  assert.ok(isTrainInvocation(['--train', '--out', 'd']));
  assert.ok(!isTrainInvocation(['--config', 'p.yaml']));
  const t = parseAnalyzerTrainArgs(['--train', '--out', 'models/artifacts/autoencoder-v2', '--epochs', '5']);
  assert.deepEqual(t, { outDir: 'models/artifacts/autoencoder-v2', version: null, source: 'simulator', clients: null, minutes: null, seed: null, epochs: 5 });
  assert.throws(() => parseAnalyzerTrainArgs(['--train']), /--out/);
  assert.throws(() => parseAnalyzerTrainArgs(['--train', '--out', 'd', '--epochs', 'many']), /--epochs/);
});

test('state snapshots default to every 60 s with a 7-day TTL under rw:analyzer:state, can be turned off, and refuse a bad duration', () => {
  const d = parseAnalyzerArgs(['--config', 'p.yaml'], {});
  assert.equal(d.statePrefix, 'rw:analyzer:state');
  assert.equal(d.snapshotEveryMs, 60_000);
  assert.equal(d.stateTtlMs, 7 * 86_400_000);
  const c = parseAnalyzerArgs(['--config', 'p.yaml'], { RW_STATE_PREFIX: 'x:state', RW_STATE_SNAPSHOT_EVERY: '15s', RW_STATE_TTL: '2d' });
  assert.deepEqual([c.statePrefix, c.snapshotEveryMs, c.stateTtlMs], ['x:state', 15_000, 2 * 86_400_000]);
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml'], { RW_STATE_SNAPSHOT_EVERY: 'off' }).snapshotEveryMs, null);
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml'], { RW_STATE_SNAPSHOT_EVERY: 'often' }), RatewardenError);
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml'], { RW_STATE_TTL: '10s' }), RatewardenError);
});

test('an explicit model directory that does not exist is a start-up error, not a silent run without the learned detector', () => {
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml', '--model', '/no/such/model-dir'], {}), (err: unknown) => err instanceof RatewardenError && /--model: no such directory \/no\/such\/model-dir/.test(err.message));
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml'], { RW_MODEL_DIR: '/no/such/model-dir' }), RatewardenError);
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml', '--model', 'none'], {}).model, 'none');
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml', '--model', 'models/artifacts'], {}).model, 'models/artifacts');
});

test('RW_ADMIN_TOKEN / RW_READONLY_TOKEN from a file-made Secret (trailing newline) are taken as clients send them; a token no bearer header can carry is a start-up error', async () => {
  const { createAuthenticator, bearerToken } = await import('../../../analyzer/api/auth.js');
  const c = parseAnalyzerArgs(['--config', 'p.yaml'], { RW_ADMIN_TOKEN: 'admin-0123456789\n', RW_READONLY_TOKEN: '  ro-0123456789\r\n' });
  assert.equal(c.adminToken, 'admin-0123456789');
  assert.equal(c.readonlyToken, 'ro-0123456789');
  // what the CLI (which trims its token) and the UI send is accepted: before, every request was a 401
  const auth = createAuthenticator({ adminToken: c.adminToken, readonlyToken: c.readonlyToken });
  assert.equal(auth.roleOf(bearerToken('Bearer admin-0123456789')), 'admin');
  assert.equal(auth.roleOf(bearerToken('Bearer ro-0123456789')), 'readonly');
  // white space only is no token (the API is disabled, as when unset), not one nobody can send
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml'], { RW_ADMIN_TOKEN: ' \n' }).adminToken, null);
  for (const bad of ['two words', 'tab\there', 'ünïcode-token', 'a\nb']) {
    assert.throws(
      () => parseAnalyzerArgs(['--config', 'p.yaml'], { RW_ADMIN_TOKEN: bad }),
      (e: unknown) => e instanceof RatewardenError && /RW_ADMIN_TOKEN.*one word/.test(e.message) && !e.message.includes(bad),
    );
  }
  assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml'], { RW_ADMIN_TOKEN: 'ok-token', RW_READONLY_TOKEN: 'read only' }), (e: unknown) => e instanceof RatewardenError && /RW_READONLY_TOKEN/.test(e.message));
});

test('retrained versions kept: 5 by default, --retrain-keep over RW_RETRAIN_KEEP; anything but a whole number of at least 1 is refused', () => {
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml'], {}).retrainKeep, 5);
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml'], { RW_RETRAIN_KEEP: '3' }).retrainKeep, 3);
  assert.equal(parseAnalyzerArgs(['--config', 'p.yaml', '--retrain-keep', '12'], { RW_RETRAIN_KEEP: '3' }).retrainKeep, 12);
  for (const bad of ['0', '-1', '2.5', 'all', '1e3']) {
    assert.throws(() => parseAnalyzerArgs(['--config', 'p.yaml', `--retrain-keep=${bad}`], {}), (e: unknown) => e instanceof RatewardenError && /--retrain-keep: ".*" is not a whole number of at least 1/.test(e.message), bad);
  }
});
