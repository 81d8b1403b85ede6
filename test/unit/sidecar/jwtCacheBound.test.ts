/**
 * The JWT verification cache is bounded in bytes as well as in entries: its keys are the tokens
 * themselves, so a flood of distinct large garbage tokens must not hold tens of MiB (10 000 tokens
 * of 8 KiB held ~90 MiB before the byte bound). Over-long tokens are refused by length, uncached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../../models/policy/index.js';
import { createJwtVerifier } from '../../../sidecar/identity/index.js';

const policy = parsePolicy('version: 1\nidentity: { jwt: { algorithms: [HS256], secretEnv: S, claim: sub } }\nrules:\n  - { id: u, key: [user], algorithm: fixed-window, limit: 1, window: 1s }\n');
if (!policy.ok) throw new Error('fixture policy');
const clock = { now: () => 1_750_000_000_000 };

test('10 000 distinct 8 KiB garbage tokens: each is invalid, and the cache keeps at most 16 MiB of them', async () => {
  const v = await createJwtVerifier(policy.policy.identity.jwt!, { env: { S: 'secret-0123456789-secret-0123456789' }, clock });
  const token = (i: number): string => `${i}.${'x'.repeat(8_000)}.sig`;
  for (let i = 0; i < 10_000; i++) assert.equal((await v.verify(token(i))).ok, false);
  let cached = 0;
  for (let i = 0; i < 10_000; i++) if (v.cached(token(i)) !== undefined) cached++;
  assert.ok(cached > 0, 'recent tokens are cached');
  assert.ok(cached * 8_000 <= 16 * 1024 * 1024, `${cached} tokens of 8 KB cached`);
  assert.equal(v.cached(token(9_999))?.ok, false, 'the newest is among them');
});

test('a token over the length limit is refused as malformed and never cached', async () => {
  const v = await createJwtVerifier(policy.policy.identity.jwt!, { env: { S: 'secret-0123456789-secret-0123456789' }, clock });
  const long = 'a'.repeat(9_000);
  assert.deepEqual(await v.verify(long), { ok: false, reason: 'malformed' });
  assert.equal(v.cached(long), undefined);
});
