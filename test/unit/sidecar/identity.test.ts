import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { SignJWT, generateKeyPair, exportSPKI, exportJWK, base64url } from 'jose';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { apiKeyId } from '../../../models/clientKey.js';
import { ErrorCodes } from '../../../models/errors.js';
import { ApiKeyReader, ClientIpResolver, TrustedProxies, addressKey, parseAddress, createJwtVerifier, IdentityResolver, hostOf, type Identified } from '../../../sidecar/identity/index.js';
import { tempDir } from '../../helpers/proc.js';

const clock = { now: () => Date.parse('2026-01-01T00:00:00Z') };
const nowSec = Math.floor(clock.now() / 1000);

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml, { hashKey: undefined });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

/** A Node request as far as the identity layer reads it; a header given as an array is repeated, joined as Node joins it. */
function req(opts: { remote?: string; headers?: Record<string, string | string[]>; url?: string; method?: string }): IncomingMessage {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: opts.remote ?? '203.0.113.7' });
  const headers: Record<string, string> = {};
  const headersDistinct: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    const values = Array.isArray(v) ? v : [v];
    headers[k.toLowerCase()] = values.join(', ');
    headersDistinct[k.toLowerCase()] = values;
  }
  return { socket, headers, headersDistinct, url: opts.url ?? '/api/x', method: opts.method ?? 'GET' } as unknown as IncomingMessage;
}

async function resolve(r: IdentityResolver, request: IncomingMessage): Promise<Identified> {
  return await r.resolve(request);
}

describe('client IP through trusted proxies', () => {
  const resolver = new ClientIpResolver(new TrustedProxies(['10.0.0.0/8', '127.0.0.1/32']), 64);

  test('X-Forwarded-For from an untrusted peer is ignored', () => {
    const peer = resolver.peer('203.0.113.7');
    assert.equal(peer.trusted, false);
    assert.equal(peer.key, '203.0.113.7');
  });

  test('the rightmost untrusted hop is the client; a spoofed leftmost entry is not believed', () => {
    const peer = resolver.peer('10.1.2.3');
    assert.equal(peer.trusted, true);
    assert.equal(resolver.throughProxies(peer.key, '6.6.6.6, 198.51.100.9, 10.9.9.9'), '198.51.100.9');
  });

  test('all hops trusted: the leftmost one is the client', () => {
    assert.equal(resolver.throughProxies('10.1.2.3', '10.0.0.5, 10.0.0.6'), '10.0.0.5');
  });

  test('an unparseable hop ends the walk at the last believed hop', () => {
    assert.equal(resolver.throughProxies('10.1.2.3', '198.51.100.9, garbage, 10.0.0.6'), '10.0.0.6');
  });

  test('IPv4-mapped IPv6 peers count as IPv4 and trusted CIDRs match them', () => {
    const peer = resolver.peer('::ffff:127.0.0.1');
    assert.equal(peer.key, '127.0.0.1');
    assert.equal(peer.trusted, true);
  });

  test('IPv6 clients are keyed by their /64 so rotation inside one allocation shares a budget', () => {
    const a = addressKey(parseAddress('2001:db8:1:2:aaaa::1')!, 64);
    const b = addressKey(parseAddress('2001:db8:1:2:ffff:1:2:3')!, 64);
    assert.equal(a, '2001:db8:1:2::/64');
    assert.equal(a, b);
    assert.equal(addressKey(parseAddress('2001:db8:1:2:aaaa::1')!, 48), '2001:db8:1::/48');
  });

  test('hops with ports and brackets are understood', () => {
    assert.equal(parseAddress('198.51.100.9:4711')!.toString(), '198.51.100.9');
    assert.equal(parseAddress('[2001:db8::1]:443')!.toString(), '2001:db8::1');
    assert.equal(parseAddress('not-an-ip'), null);
  });
});

describe('the client address sent upstream as X-Real-IP', () => {
  const resolver = new IdentityResolver(policy(`
version: 1
identity: { trustedProxies: [10.0.0.0/8], ipv6Prefix: 64 }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: 10, window: 1m }
`), null, {});
  const who = async (remote: string, xff?: string): Promise<[string, string]> => {
    const id = await resolve(resolver, req({ remote, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }));
    return [id.client, id.facts.ip];
  };

  test('is the hop the client is keyed by: the peer when untrusted, the rightmost untrusted hop behind trusted ones', async () => {
    assert.deepEqual(await who('203.0.113.7', '6.6.6.6'), ['203.0.113.7', '203.0.113.7']);
    assert.deepEqual(await who('::ffff:203.0.113.7'), ['203.0.113.7', '203.0.113.7']);
    assert.deepEqual(await who('10.1.2.3', '6.6.6.6, 198.51.100.9:4711, 10.9.9.9'), ['198.51.100.9', '198.51.100.9']);
    assert.deepEqual(await who('10.1.2.3', '10.0.0.5, 10.0.0.6'), ['10.0.0.5', '10.0.0.5']);
    assert.deepEqual(await who('10.1.2.3', '198.51.100.9, garbage, 10.0.0.6'), ['10.0.0.6', '10.0.0.6']);
    assert.deepEqual(await who('10.1.2.3', 'garbage'), ['10.1.2.3', '10.1.2.3']);
    assert.deepEqual(await who('10.1.2.3'), ['10.1.2.3', '10.1.2.3']);
  });

  test('is the full IPv6 address where the key is its network', async () => {
    assert.deepEqual(await who('10.1.2.3', '[2001:db8:1:2::abcd]:443'), ['2001:db8:1:2::abcd', '2001:db8:1:2::/64']);
    assert.deepEqual(await who('2001:db8:1:2::abcd'), ['2001:db8:1:2::abcd', '2001:db8:1:2::/64']);
  });
});

describe('API keys, client keys and tiers', () => {
  const p = policy(`
version: 1
identity: { apiKey: { header: x-api-key, query: api_key }, trustedProxies: [127.0.0.1/32] }
clients:
  "apiKey:pro-key": { tier: pro }
  "ip:198.51.100.20": { tier: enterprise }
tiers: { free: {}, pro: { multiplier: 10 }, enterprise: { multiplier: 100 } }
rules:
  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 10, window: 1m }
`);
  const resolver = new IdentityResolver(p, null, { hashKey: undefined });

  test('the API key becomes its 16-hex id; the client key and identities never hold it in clear', async () => {
    const id = await resolve(resolver, req({ headers: { 'x-api-key': 'secret-key-1' } }));
    const hashed = apiKeyId('secret-key-1', undefined);
    assert.equal(id.facts.apiKeyId, hashed);
    assert.equal(id.facts.clientKey, `apiKey:${hashed}`);
    assert.deepEqual(id.facts.identities, [`apiKey:${hashed}`, 'ip:203.0.113.7']);
    assert.ok(!JSON.stringify(id.facts).includes('secret-key-1'));
  });

  test('a rule keyed by the API key header or Authorization reads their digest, never the secret', async () => {
    const id = await resolve(resolver, req({ headers: { 'x-api-key': 'secret-key-1', authorization: 'Basic dXNlcjpwYXNz', 'x-team': 'blue' } }));
    assert.equal(id.facts.header('x-api-key'), apiKeyId('secret-key-1', undefined));
    assert.equal(id.facts.header('authorization'), apiKeyId('Basic dXNlcjpwYXNz', undefined));
    assert.equal(id.facts.header('x-team'), 'blue');
  });

  test('the API key is read from the query parameter when the header is absent', async () => {
    const id = await resolve(resolver, req({ url: '/api/x?a=1&api_key=qkey' }));
    assert.equal(id.facts.apiKeyId, apiKeyId('qkey', undefined));
    assert.equal(id.facts.path, '/api/x');
  });

  test('without a key the client key is the IP', async () => {
    const id = await resolve(resolver, req({}));
    assert.equal(id.facts.clientKey, 'ip:203.0.113.7');
    assert.equal(id.facts.tier, 'free');
  });

  test('tiers come from the static clients map, by API key or by IP', async () => {
    assert.equal((await resolve(resolver, req({ headers: { 'x-api-key': 'pro-key' } }))).facts.tier, 'pro');
    assert.equal((await resolve(resolver, req({ remote: '127.0.0.1', headers: { 'x-forwarded-for': '198.51.100.20' } }))).facts.tier, 'enterprise');
  });

  test('an ip: client written as any address of an IPv6 network, in any case, gets its tier for the whole network', async () => {
    const v6 = policy(`
version: 1
identity: { ipv6Prefix: 64 }
clients:
  "ip:2001:DB8:1:2::5": { tier: pro }
  "ip:::ffff:198.51.100.7": { tier: enterprise }
tiers: { free: {}, pro: { multiplier: 10 }, enterprise: { multiplier: 100 } }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const r = new IdentityResolver(v6, null, { hashKey: undefined });
    const rotated = await resolve(r, req({ remote: '2001:db8:1:2:aaaa::1' }));
    assert.equal(rotated.facts.clientKey, 'ip:2001:db8:1:2::/64');
    assert.equal(rotated.facts.tier, 'pro');
    assert.equal((await resolve(r, req({ remote: '2001:db8:1:3::5' }))).facts.tier, 'free');
    assert.equal((await resolve(r, req({ remote: '198.51.100.7' }))).facts.tier, 'enterprise');
  });

  test('a request carrying more than one API key is ambiguous (answered 400), not a fresh key for every second value', async () => {
    for (const r of [
      req({ headers: { 'x-api-key': ['pro-key', 'r1'] } }), // Node joins them into "pro-key, r1"
      req({ url: '/api/x?api_key=r1&api_key=pro-key' }),
      req({ headers: { 'x-api-key': 'pro-key' }, url: '/api/x?api_key=other' }),
    ]) {
      const id = await resolve(resolver, r);
      assert.equal(id.ambiguousCredential, 'the request carries more than one API key');
      assert.equal(id.facts.apiKeyId, null);
    }
    // one value with a comma in it, and the same key in both places, are one key
    assert.equal((await resolve(resolver, req({ headers: { 'x-api-key': 'a,b' } }))).facts.apiKeyId, apiKeyId('a,b', undefined));
    const both = await resolve(resolver, req({ headers: { 'x-api-key': 'pro-key' }, url: '/api/x?api_key=pro-key' }));
    assert.equal(both.ambiguousCredential, null);
    assert.equal(both.facts.tier, 'pro');
  });

  test('a header key part reads the first of repeated values, and credential-named headers are digested even when identity does not name them', async () => {
    const id = await resolve(resolver, req({ headers: { 'x-team': ['blue', 'r7'], 'x-auth-token': 'tok-123', 'x-client-secret': 's', 'x-session-id': 'sess' } }));
    assert.equal(id.facts.header('x-team'), 'blue');
    assert.equal(id.facts.header('x-auth-token'), apiKeyId('tok-123', undefined));
    assert.equal(id.facts.header('x-client-secret'), apiKeyId('s', undefined));
    assert.equal(id.facts.header('x-session-id'), apiKeyId('sess', undefined));
  });

  test('a secret header value longer than any key is digested but not cached (the cache held every raw value, unbounded in bytes)', () => {
    const reader = new ApiKeyReader({ header: 'x-api-key', query: null }, { hashKey: undefined, cacheSize: 10 });
    const long = 'Bearer ' + 'x'.repeat(100_000);
    assert.equal(reader.idOf(long), apiKeyId(long, undefined));
    assert.equal(reader.idOf('short'), apiKeyId('short', undefined));
    assert.equal((reader as unknown as { cache: { size: number } }).cache.size, 1);
  });

  test('the rules\' path ends at a fragment as servers\' does (/login#1 is /login)', async () => {
    assert.equal((await resolve(resolver, req({ url: '/login#1' }))).facts.path, '/login');
    assert.equal((await resolve(resolver, req({ url: '/login#x?y=1' }))).facts.path, '/login');
    assert.equal((await resolve(resolver, req({ url: '/login?next=/a#b' }))).facts.path, '/login');
  });

  test('a tier header sent by the client changes nothing', async () => {
    const id = await resolve(resolver, req({ headers: { 'x-tier': 'enterprise', 'x-ratewarden-tier': 'enterprise' } }));
    assert.equal(id.facts.tier, 'free');
  });

  test('host is lower-cased without its port', () => {
    assert.equal(hostOf('API.Example.com:8443'), 'api.example.com');
    assert.equal(hostOf('[::1]:8080'), '[::1]');
    assert.equal(hostOf(undefined), '');
  });
});

describe('JWT identities', () => {
  const hsPolicy = policy(`
version: 1
identity: { jwt: { algorithms: [HS256], secretEnv: RW_TEST_JWT_SECRET, claim: sub, tierClaim: plan } }
tiers: { free: {}, pro: { multiplier: 10 } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
  const secret = new TextEncoder().encode('s3cret-s3cret-s3cret-s3cret-32by');
  const env = { RW_TEST_JWT_SECRET: 's3cret-s3cret-s3cret-s3cret-32by' };

  async function hsResolver(): Promise<IdentityResolver> {
    return new IdentityResolver(hsPolicy, await createJwtVerifier(hsPolicy.identity.jwt!, { env, clock }), {});
  }

  test('a token whose HS256 signature verifies gives the user and its tier claim', async () => {
    const token = await new SignJWT({ plan: 'pro' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(nowSec + 600).sign(secret);
    const id = await resolve(await hsResolver(), req({ headers: { authorization: `Bearer ${token}` } }));
    assert.equal(id.facts.user, 'alice');
    assert.equal(id.facts.clientKey, 'user:alice');
    assert.equal(id.facts.tier, 'pro');
    assert.equal(id.invalidToken, null);
  });

  test('a bad signature is never an identity', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').sign(new TextEncoder().encode('another-secret-another-secret-32'));
    const id = await resolve(await hsResolver(), req({ headers: { authorization: `Bearer ${token}` } }));
    assert.equal(id.facts.user, null);
    assert.equal(id.facts.clientKey, 'ip:203.0.113.7');
    assert.equal(id.invalidToken, 'signature');
  });

  test('alg none is never an identity', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify({ sub: 'mallory', plan: 'pro' }));
    const id = await resolve(await hsResolver(), req({ headers: { authorization: `Bearer ${header}.${payload}.` } }));
    assert.equal(id.facts.user, null);
    assert.equal(id.facts.tier, 'free');
    assert.ok(id.invalidToken === 'algorithm' || id.invalidToken === 'malformed', String(id.invalidToken));
  });

  test('an expired token is never an identity', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(nowSec - 3600).sign(secret);
    const id = await resolve(await hsResolver(), req({ headers: { authorization: `Bearer ${token}` } }));
    assert.equal(id.facts.user, null);
    assert.equal(id.invalidToken, 'expired');
  });

  test('a token refused as not yet valid (nbf) becomes an identity once its nbf passes, not a minute later', async () => {
    let now = clock.now();
    const moving = { now: () => now };
    const r = new IdentityResolver(hsPolicy, await createJwtVerifier(hsPolicy.identity.jwt!, { env, clock: moving }), {});
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('carol').setNotBefore(nowSec + 20).setExpirationTime(nowSec + 600).sign(secret);
    const early = await resolve(r, req({ headers: { authorization: `Bearer ${token}` } }));
    assert.equal(early.invalidToken, 'claims');
    assert.equal(early.facts.user, null);
    now += 20_000 - 5_000 + 1; // nbf less the default 5 s clock tolerance: valid now
    const later = await resolve(r, req({ headers: { authorization: `Bearer ${token}` } }));
    assert.equal(later.invalidToken, null);
    assert.equal(later.facts.user, 'carol');
  });

  test('a verified token is cached: the second request is answered without awaiting', async () => {
    const r = await hsResolver();
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime(nowSec + 600).sign(secret);
    const first = r.resolve(req({ headers: { authorization: `Bearer ${token}` } }));
    assert.ok(first instanceof Promise);
    await first;
    const second = r.resolve(req({ headers: { authorization: `Bearer ${token}` } }));
    assert.ok(!(second instanceof Promise));
    assert.equal((second as Identified).facts.user, 'bob');
  });

  test('a missing secret variable is a start-up error naming it', async () => {
    await assert.rejects(createJwtVerifier(hsPolicy.identity.jwt!, { env: {}, clock }), (err: Error & { code?: string }) => {
      assert.equal(err.code, ErrorCodes.CONFIG_IDENTITY);
      assert.match(err.message, /RW_TEST_JWT_SECRET/);
      return true;
    });
  });

  test('RS256 tokens verify against a public key file', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const file = join(tempDir(), 'rs.pem');
    writeFileSync(file, await exportSPKI(publicKey));
    const p = policy(`
version: 1
identity: { jwt: { algorithms: [RS256], publicKeyFile: ${file} } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const r = new IdentityResolver(p, await createJwtVerifier(p.identity.jwt!, { env: {}, clock }), {});
    const good = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('carol').setExpirationTime(nowSec + 600).sign(privateKey);
    assert.equal((await resolve(r, req({ headers: { authorization: `Bearer ${good}` } }))).facts.user, 'carol');
    const other = await generateKeyPair('RS256');
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('carol').setExpirationTime(nowSec + 600).sign(other.privateKey);
    assert.equal((await resolve(r, req({ headers: { authorization: `Bearer ${forged}` } }))).facts.user, null);
  });

  test('a token without exp is refused (it would never expire) unless the policy says requireExp: false', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const file = join(tempDir(), 'rs-noexp.pem');
    writeFileSync(file, await exportSPKI(publicKey));
    const forever = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('erin').setIssuedAt(nowSec - 10 * 365 * 86_400).sign(privateKey);
    const strict = policy(`
version: 1
identity: { jwt: { algorithms: [RS256], publicKeyFile: ${file} } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    assert.equal(strict.identity.jwt!.requireExp, true);
    const refused = await resolve(new IdentityResolver(strict, await createJwtVerifier(strict.identity.jwt!, { env: {}, clock }), {}), req({ headers: { authorization: `Bearer ${forever}` } }));
    assert.equal(refused.facts.user, null);
    assert.equal(refused.invalidToken, 'claims');
    const lax = policy(`
version: 1
identity: { jwt: { algorithms: [RS256], publicKeyFile: ${file}, requireExp: false } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    assert.equal((await resolve(new IdentityResolver(lax, await createJwtVerifier(lax.identity.jwt!, { env: {}, clock }), {}), req({ headers: { authorization: `Bearer ${forever}` } }))).facts.user, 'erin');
  });

  test('clockTolerance is at most 5m (a year of tolerance kept every expired token valid)', () => {
    const r = parsePolicy(`
version: 1
identity: { jwt: { algorithms: [HS256], secretEnv: S, clockTolerance: 365d } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    assert.equal(r.ok, false);
    assert.match(JSON.stringify(r), /clockTolerance.*at most 5m/);
  });

  test('ES256 tokens verify against a JWKS file, matched by kid', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const file = join(tempDir(), 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    const p = policy(`
version: 1
identity: { jwt: { algorithms: [ES256], jwksFile: ${file}, claim: email } }
rules:
  - { id: r, key: [user], algorithm: fixed-window, limit: 10, window: 1m }
`);
    const r = new IdentityResolver(p, await createJwtVerifier(p.identity.jwt!, { env: {}, clock }), {});
    const token = await new SignJWT({ email: 'dave@example.com' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime(nowSec + 600).sign(privateKey);
    assert.equal((await resolve(r, req({ headers: { authorization: `Bearer ${token}` } }))).facts.user, 'dave@example.com');
  });
});
