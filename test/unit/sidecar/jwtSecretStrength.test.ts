/**
 * An HS256/384/512 shared secret shorter than its hash (RFC 7518 §3.2: at least 32, 48, 64 bytes)
 * is a start-up error, never a running sidecar whose tokens can be brute-forced offline: one line,
 * naming the variable, the length and the algorithm, never the secret itself. Policies listing
 * several HMAC algorithms need the longest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { ErrorCodes } from '../../../models/errors.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { createJwtVerifier } from '../../../sidecar/identity/index.js';

const clock = { now: () => Date.now() };

function jwt(algorithms: string) {
  const parsed = parsePolicy(`version: 1\nidentity: { jwt: { algorithms: [${algorithms}], secretEnv: RW_T_JWT } }\nrules:\n  - { id: u, key: [user], algorithm: fixed-window, limit: 1, window: 1s }\n`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.policy.identity.jwt!;
}

for (const [alg, need] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
  test(`a ${alg} secret of ${need - 1} bytes is refused at start-up without printing it; ${need} bytes start`, async () => {
    const short = 'k'.repeat(need - 2) + 'Z';
    await assert.rejects(createJwtVerifier(jwt(alg), { env: { RW_T_JWT: short }, clock }), (err: Error & { code?: string }) => {
      assert.equal(err.code, ErrorCodes.CONFIG_IDENTITY);
      assert.match(err.message, new RegExp(`RW_T_JWT is ${need - 1} bytes; ${alg} needs at least ${need}`));
      assert.ok(!err.message.includes(short), 'the secret is not in the message');
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    });
    const secret = 'k'.repeat(need);
    const v = await createJwtVerifier(jwt(alg), { env: { RW_T_JWT: secret }, clock });
    const token = await new SignJWT({}).setProtectedHeader({ alg }).setSubject('alice').setExpirationTime(Math.floor(Date.now() / 1000) + 600).sign(new TextEncoder().encode(secret));
    assert.deepEqual(await v.verify(token), { ok: true, user: 'alice', tier: null });
  });
}

test('the length is counted in bytes (UTF-8), and a policy listing several HMAC algorithms needs the longest', async () => {
  // 16 characters of two bytes each: 32 bytes
  assert.ok(await createJwtVerifier(jwt('HS256'), { env: { RW_T_JWT: 'é'.repeat(16) }, clock }));
  await assert.rejects(createJwtVerifier(jwt('HS256, HS512'), { env: { RW_T_JWT: 'x'.repeat(48) }, clock }), /RW_T_JWT is 48 bytes; HS512 needs at least 64/);
});
