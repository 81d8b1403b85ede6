/**
 * Identity defects found in a security review: credentials the sidecar read differently from the
 * upstream (a percent-encoded parameter name, a fragment, a repeated token header), tokens whose
 * expiry jose does not enforce (`exp: 1e400`), a cached success outliving `exp`, and JWKS files
 * with several candidate keys for one token.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket, connect, type AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair, exportJWK, exportSPKI, base64url } from 'jose';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { apiKeyId } from '../../../models/clientKey.js';
import { createJwtVerifier, IdentityResolver, queryParam, type Identified } from '../../../sidecar/identity/index.js';
import { graphqlRequest } from '../../../sidecar/graphqlBody.js';
import { tempDir } from '../../helpers/proc.js';

const clock = { now: () => Date.parse('2026-01-01T00:00:00Z') };
const nowSec = Math.floor(clock.now() / 1000);
const SECRET = 's3cret-s3cret-s3cret-s3cret-32by';
const secret = new TextEncoder().encode(SECRET);

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml, { hashKey: undefined });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

/** A Node request as far as the identity layer reads it; a header given as an array is repeated (joined as Node joins it, or only its first value kept where Node keeps only the first; every line in rawHeaders). */
function req(opts: { headers?: Record<string, string | string[]>; url?: string }): IncomingMessage {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: '203.0.113.7' });
  const headers: Record<string, string> = {};
  const headersDistinct: Record<string, string[]> = {};
  const rawHeaders: string[] = [];
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    const values = Array.isArray(v) ? v : [v];
    const name = k.toLowerCase();
    headers[name] = name === 'authorization' ? values[0]! : values.join(', ');
    headersDistinct[name] = values;
    for (const value of values) rawHeaders.push(k, value);
  }
  return { socket, headers, headersDistinct, rawHeaders, url: opts.url ?? '/api/x', method: 'GET' } as unknown as IncomingMessage;
}

async function resolve(r: IdentityResolver, request: IncomingMessage): Promise<Identified> {
  return await r.resolve(request);
}

/** A compact HS256 token over a payload written as raw JSON text (so it can say what JSON.stringify cannot, like 1e400). */
function hs256(payloadJson: string, header: object = { alg: 'HS256' }): string {
  const input = base64url.encode(JSON.stringify(header)) + '.' + base64url.encode(payloadJson);
  return input + '.' + createHmac('sha256', SECRET).update(input).digest('base64url');
}

describe('API keys read as the upstream reads them', () => {
  const p = policy(`
version: 1
identity: { apiKey: { header: x-api-key, query: api_key } }
rules:
  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 10, window: 1m }
`);
  const r = new IdentityResolver(p, null, {});
  const id = (key: string) => apiKeyId(key, undefined);

  test('a percent-encoded parameter name is the parameter (api%5Fkey= is api_key= to every server): not a keyless request', async () => {
    const got = await resolve(r, req({ url: '/api/x?api%5Fkey=secret-1' }));
    assert.equal(got.facts.apiKeyId, id('secret-1'));
    assert.equal(got.facts.clientKey, `apiKey:${id('secret-1')}`);
    assert.equal((await resolve(r, req({ url: '/api/x?%61pi_key=secret-1' }))).facts.apiKeyId, id('secret-1'));
  });

  test('the parameter spelled twice, once encoded, or disagreeing with the header under an encoded name, is ambiguous', async () => {
    const twice = await resolve(r, req({ url: '/api/x?api_key=secret-1&api%5Fkey=secret-2' }));
    assert.notEqual(twice.ambiguousCredential, null);
    assert.equal(twice.facts.apiKeyId, null);
    const mixed = await resolve(r, req({ headers: { 'x-api-key': 'secret-1' }, url: '/api/x?api%5fkey=secret-2' }));
    assert.notEqual(mixed.ambiguousCredential, null);
  });

  test('a fragment is not part of the key (the upstream never sees it): no fresh key per #suffix', async () => {
    for (const url of ['/api/x?api_key=secret-1#1', '/api/x?api_key=secret-1#2', '/api/x?api_key=secret-1#&api_key=other']) {
      const got = await resolve(r, req({ url }));
      assert.equal(got.ambiguousCredential, null, url);
      assert.equal(got.facts.apiKeyId, id('secret-1'), url);
    }
  });

  test('an API key in Authorization sent twice is ambiguous (Node keeps the first line, the upstream gets both)', async () => {
    const pa = policy(`
version: 1
identity: { apiKey: { header: authorization } }
rules:
  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const ra = new IdentityResolver(pa, null, {});
    const twice = await resolve(ra, req({ headers: { authorization: ['junk', 'secret-1'] } }));
    assert.notEqual(twice.ambiguousCredential, null);
    assert.equal(twice.facts.apiKeyId, null);
    assert.equal((await resolve(ra, req({ headers: { authorization: 'secret-1' } }))).facts.apiKeyId, id('secret-1'));
  });

  test('a GraphQL GET whose query parameter name is percent-encoded is priced, not taken for a query-less request', () => {
    assert.equal(queryParam('/graphql?qu%65ry=%7Ba%7D', 'query'), '{a}');
    assert.equal(queryParam('/graphql?query=%7Ba%7D#x', 'query'), '{a}');
    const gql = graphqlRequest('GET', '/graphql?qu%65ry=%7B%20a%20%7D', undefined, null);
    assert.ok(gql !== null && 'query' in gql, JSON.stringify(gql));
    assert.equal((gql as { query: string }).query, '{ a }');
  });
});

describe('one request, one token', () => {
  const hsPolicy = policy(`
version: 1
identity: { jwt: { algorithms: [HS256], secretEnv: RW_TEST_JWT_SECRET } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
  const customPolicy = policy(`
version: 1
identity: { jwt: { header: x-token, algorithms: [HS256], secretEnv: RW_TEST_JWT_SECRET } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
  const env = { RW_TEST_JWT_SECRET: SECRET };
  const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(nowSec + 600).sign(secret);

  test('Authorization twice is ambiguous: Node keeps the first, the upstream gets both and may read the other', async () => {
    const r = new IdentityResolver(hsPolicy, await createJwtVerifier(hsPolicy.identity.jwt!, { env, clock }), {});
    const valid = await token('alice');
    // a junk first token made the request anonymous (an IP budget) while the upstream could authenticate alice
    const got = await resolve(r, req({ headers: { authorization: ['Bearer junk', `Bearer ${valid}`] } }));
    assert.notEqual(got.ambiguousCredential, null);
    assert.equal(got.facts.user, null);
    const both = await resolve(r, req({ headers: { authorization: [`Bearer ${valid}`, `Bearer ${await token('bob')}`] } }));
    assert.notEqual(both.ambiguousCredential, null);
    const once = await resolve(r, req({ headers: { authorization: `Bearer ${valid}` } }));
    assert.equal(once.ambiguousCredential, null);
    assert.equal(once.facts.user, 'alice');
  });

  test('a custom token header twice is ambiguous, not an anonymous "malformed" token the upstream reads as its first value', async () => {
    const r = new IdentityResolver(customPolicy, await createJwtVerifier(customPolicy.identity.jwt!, { env, clock }), {});
    const valid = await token('alice');
    const got = await resolve(r, req({ headers: { 'x-token': [valid, valid] } }));
    assert.notEqual(got.ambiguousCredential, null);
    assert.equal(got.invalidToken, null);
    assert.equal((await resolve(r, req({ headers: { 'x-token': valid } }))).facts.user, 'alice');
  });

  test('through a real Node server: Authorization sent twice reaches the identity layer as two tokens', async () => {
    const r = new IdentityResolver(hsPolicy, await createJwtVerifier(hsPolicy.identity.jwt!, { env, clock }), {});
    const valid = await token('alice');
    const seen: Identified[] = [];
    const server = createServer((rq, rs) => {
      void Promise.resolve(r.resolve(rq)).then((got) => {
        seen.push(got);
        rs.end();
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const { port } = server.address() as AddressInfo;
      // a raw request: Node's own client writes an array of headers in a form its server refuses
      await new Promise<void>((ok, fail) => {
        const c = connect(port, '127.0.0.1', () => {
          c.end(`GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer junk\r\nAuthorization: Bearer ${valid}\r\nConnection: close\r\n\r\n`);
        });
        c.on('error', fail);
        c.on('close', () => ok());
        c.resume();
      });
    } finally {
      server.close();
    }
    assert.equal(seen.length, 1);
    assert.notEqual(seen[0]!.ambiguousCredential, null);
    assert.equal(seen[0]!.facts.user, null);
  });
});

describe('token lifetimes', () => {
  const env = { RW_TEST_JWT_SECRET: SECRET };

  test('exp: 1e400 (JSON for Infinity) is no expiry: refused under requireExp, like a token without exp', async () => {
    const p = policy(`
version: 1
identity: { jwt: { algorithms: [HS256], secretEnv: RW_TEST_JWT_SECRET } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const v = await createJwtVerifier(p.identity.jwt!, { env, clock });
    assert.deepEqual(await v.verify(hs256('{"sub":"mallory","exp":1e400}')), { ok: false, reason: 'claims' });
    assert.deepEqual(await v.verify(hs256(`{"sub":"mallory","exp":${nowSec + 600},"nbf":-1e400}`)), { ok: false, reason: 'claims' });
    assert.deepEqual(await v.verify(hs256('{"sub":"mallory","exp":"9999999999"}')), { ok: false, reason: 'claims' });
    assert.equal((await v.verify(hs256(`{"sub":"alice","exp":${nowSec + 600}}`))).ok, true);
  });

  test('a cached success never outlives what a fresh verification accepts (a sub-second clockTolerance kept it past exp)', async () => {
    const p = policy(`
version: 1
identity: { jwt: { algorithms: [HS256], secretEnv: RW_TEST_JWT_SECRET, clockTolerance: 400ms } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    let now = clock.now();
    const moving = { now: () => now };
    const r = new IdentityResolver(p, await createJwtVerifier(p.identity.jwt!, { env, clock: moving }), {});
    const t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(nowSec + 60).sign(secret);
    assert.equal((await resolve(r, req({ headers: { authorization: `Bearer ${t}` } }))).facts.user, 'alice');
    now = (nowSec + 60) * 1000 + 200; // past exp; jose works in whole seconds and rounds 400 ms to none
    const fresh = await createJwtVerifier(p.identity.jwt!, { env, clock: moving });
    assert.equal((await fresh.verify(t)).ok, false);
    const later = await resolve(r, req({ headers: { authorization: `Bearer ${t}` } }));
    assert.equal(later.facts.user, null);
    assert.equal(later.invalidToken, 'expired');
  });
});

describe('JWKS files with several candidate keys', () => {
  test('a token without kid against a JWKS of two keys of its type (a rotation) verifies with the right one; a forgery still fails', async () => {
    const a = await generateKeyPair('ES256');
    const b = await generateKeyPair('ES256');
    const file = join(tempDir(), 'jwks-rotation.json');
    writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(a.publicKey)), kid: 'old' }, { ...(await exportJWK(b.publicKey)), kid: 'new' }] }));
    const p = policy(`
version: 1
identity: { jwt: { algorithms: [ES256], jwksFile: ${file} } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const v = await createJwtVerifier(p.identity.jwt!, { env: {}, clock });
    for (const [key, sub] of [[a.privateKey, 'alice'], [b.privateKey, 'bob']] as const) {
      const t = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject(sub).setExpirationTime(nowSec + 600).sign(key);
      assert.deepEqual(await v.verify(t), { ok: true, user: sub, tier: null });
    }
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('mallory').setExpirationTime(nowSec + 600).sign((await generateKeyPair('ES256')).privateKey);
    assert.deepEqual(await v.verify(forged), { ok: false, reason: 'signature' });
    // the right key, an expired token: refused as expired, not as a signature failure
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('bob').setExpirationTime(nowSec - 600).sign(b.privateKey);
    assert.deepEqual(await v.verify(expired), { ok: false, reason: 'expired' });
    // a kid the file does not have is still no key
    const unknownKid = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).setSubject('alice').setExpirationTime(nowSec + 600).sign(a.privateKey);
    assert.deepEqual(await v.verify(unknownKid), { ok: false, reason: 'no-key' });
  });

  test('a kid the file repeats: the key that verifies wins; an HS key in the file and algorithm confusion stay refused', async () => {
    const a = await generateKeyPair('ES256');
    const b = await generateKeyPair('ES256');
    const file = join(tempDir(), 'jwks-dupkid.json');
    const oct = { kty: 'oct', k: base64url.encode(SECRET), kid: 'k1', alg: 'HS256' };
    writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(a.publicKey)), kid: 'k1' }, { ...(await exportJWK(b.publicKey)), kid: 'k1' }, oct] }));
    const p = policy(`
version: 1
identity: { jwt: { algorithms: [ES256], jwksFile: ${file} } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const v = await createJwtVerifier(p.identity.jwt!, { env: {}, clock });
    const t = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('bob').setExpirationTime(nowSec + 600).sign(b.privateKey);
    assert.deepEqual(await v.verify(t), { ok: true, user: 'bob', tier: null });
    assert.deepEqual(await v.verify(hs256(`{"sub":"mallory","exp":${nowSec + 600}}`, { alg: 'HS256', kid: 'k1' })), { ok: false, reason: 'algorithm' });
  });

  test('alg none in any case, and an RS256 public key used as an HS256 secret, are never identities', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const file = join(tempDir(), 'confusion.pem');
    writeFileSync(file, pem);
    const p = policy(`
version: 1
identity: { jwt: { algorithms: [RS256], publicKeyFile: ${file} } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const v = await createJwtVerifier(p.identity.jwt!, { env: {}, clock });
    const payload = base64url.encode(JSON.stringify({ sub: 'mallory', exp: nowSec + 600 }));
    for (const alg of ['none', 'None', 'NONE']) {
      assert.deepEqual(await v.verify(base64url.encode(JSON.stringify({ alg })) + '.' + payload + '.'), { ok: false, reason: 'algorithm' }, alg);
    }
    const input = base64url.encode(JSON.stringify({ alg: 'HS256' })) + '.' + payload;
    assert.deepEqual(await v.verify(input + '.' + createHmac('sha256', pem).update(input).digest('base64url')), { ok: false, reason: 'algorithm' });
  });
});
