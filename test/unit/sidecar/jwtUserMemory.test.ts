/**
 * A verified token's `user` is cut to 256 characters (sanitizeKeyValue: first characters, `~`, a
 * digest). V8 keeps a slice as a view of the whole string, so each `user` — kept in the verdict
 * cache for as long as the token is valid — held its whole claim alive: up to ~6 KB for an 8 KB
 * token, none of it counted by the cache's byte bound (which counts the token). The cut value must
 * be a string of its own, as route keys are (routeKeyMemory.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { SignJWT } from 'jose';
import { parsePolicy } from '../../../models/policy/index.js';
import { createJwtVerifier } from '../../../sidecar/identity/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const policy = parsePolicy('version: 1\nidentity: { jwt: { algorithms: [HS256], secretEnv: S, claim: sub } }\nrules:\n  - { id: u, key: [user], algorithm: fixed-window, limit: 1, window: 1s }\n');
if (!policy.ok) throw new Error('fixture policy');
const clock = { now: () => 1_750_000_000_000 };
const secret = 'secret-0123456789-secret-0123456789'; // HS256 needs 32 bytes or more
const key = new TextEncoder().encode(secret);

test('a verified 256-character user holds its own characters, not the 5 KB claim it was cut from', async () => {
  // a one-entry cache, so the tokens themselves are not what is measured
  const v = await createJwtVerifier(policy.policy.identity.jwt!, { env: { S: secret }, clock, cacheSize: 1 });
  const filler = 'u'.repeat(5_000);
  const sign = (i: number): Promise<string> =>
    new SignJWT({ sub: `${String(i).padStart(8, '0')}${filler}` }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(1_750_000_000 + 3_600).sign(key);
  const users: string[] = [];
  const verifyOne = async (i: number): Promise<string> => {
    const r = await v.verify(await sign(i));
    assert.ok(r.ok, 'verified');
    assert.equal(r.user.length, 256, 'user cut to 256 characters');
    return r.user;
  };
  // warm the verification path up (optimised code must copy too)
  for (let i = 0; i < 500; i++) await verifyOne(1_000_000 + i);
  const N = 2_000;
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < N; i++) users.push(await verifyOne(i));
  gc();
  gc();
  const perUser = (process.memoryUsage().heapUsed - before) / N;
  assert.equal(new Set(users).size, N, 'distinct users');
  // a 256-character string and its array slot are a few hundred bytes; before the fix each held its 5 KB claim
  assert.ok(perUser < 2_000, `${Math.round(perUser)} B held per user`);
});
