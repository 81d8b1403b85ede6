/**
 * `ratewarden key-id KEY` prints the id the sidecar gives a request's API key. The sidecar trims the
 * key it reads (white space around a header value or a query parameter is no part of the key) and
 * takes a blank one as no key; the key read from stdin (`-`) was trimmed too, but an argument was
 * hashed as written: `key-id ' k '` printed an id no request ever gets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyReader } from '../../../sidecar/identity/apiKey.js';
import { cli } from './run.js';

const sidecarId = (headerValue: string): string | null => new ApiKeyReader({ header: 'x-api-key', query: null }).read({ 'x-api-key': headerValue }, '/');

test('key-id gives a key with white space around it the id the sidecar gives it, as an argument as from stdin', async () => {
  const plain = await cli(['key-id', 'k-123']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, `apiKey:${sidecarId('k-123')}\n`);
  const padded = await cli(['key-id', ' k-123\t']);
  assert.equal(padded.code, 0, padded.stderr);
  assert.equal(padded.stdout, plain.stdout);
  assert.equal(sidecarId(' k-123\t'), sidecarId('k-123'));
  const stdin = await cli(['key-id', '-'], { stdin: ' k-123\n' });
  assert.equal(stdin.stdout, plain.stdout);
});

test('key-id refuses a key over 512 characters, which a sidecar reads as no key, and gives one of 512 its id', async () => {
  const max = 'k'.repeat(512);
  const ok = await cli(['key-id', max]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `apiKey:${sidecarId(max)}\n`);
  assert.equal(sidecarId(max + 'k'), null);
  const long = await cli(['key-id', '-'], { stdin: max + 'k\n' });
  assert.equal(long.code, 2);
  assert.equal(long.stdout, '');
  assert.match(long.stderr, /the API key is 513 characters; a sidecar reads one over 512 as no key/);
});

test('key-id refuses a blank key (the sidecar takes it as no key) with the usage and exit 2, as an argument as from stdin', async () => {
  assert.equal(sidecarId('   '), null);
  for (const [args, stdin] of [[['key-id', '   '], undefined], [['key-id', ''], undefined], [['key-id', '-'], ' \n']] as const) {
    const r = await cli([...args], stdin === undefined ? {} : { stdin });
    assert.equal(r.code, 2, JSON.stringify(args));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^usage: ratewarden key-id KEY/);
  }
});
