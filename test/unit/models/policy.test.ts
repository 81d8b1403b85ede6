import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicy, loadPolicyFile, formatPolicyErrors, type PolicyError } from '../../../models/policy/index.js';
import { apiKeyId } from '../../../models/clientKey.js';
import { ErrorCodes } from '../../../models/errors.js';
import { ROOT } from '../../helpers/infra.js';

const minimal = (rules: string, extra = ''): string => `version: 1\n${extra}rules:\n${rules}`;
const rule = (body: string): string =>
  body
    .trim()
    .split('\n')
    .map((line, i) => (i === 0 ? `  - ${line.trim()}` : `    ${line.trim()}`))
    .join('\n') + '\n';

function errorsOf(text: string): readonly PolicyError[] {
  const result = parsePolicy(text);
  assert.equal(result.ok, false, 'expected the policy to be rejected');
  return result.ok ? [] : result.errors;
}

function expectError(text: string, code: string, path: string, messagePart?: string): void {
  const errors = errorsOf(text);
  const hit = errors.find((e) => e.code === code && e.path === path);
  assert.ok(hit, `expected ${code} at ${path}, got:\n${formatPolicyErrors(errors)}`);
  if (messagePart) assert.match(hit.message, new RegExp(messagePart.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
}

describe('the DESIGN.md example policy', () => {
  test('passes validation', () => {
    const result = loadPolicyFile(join(ROOT, 'examples', 'policy.yaml'));
    assert.equal(result.ok, true, result.ok ? '' : formatPolicyErrors(result.errors));
  });

  test('is normalised: rates, windows, bursts and defaults are filled', () => {
    const result = loadPolicyFile(join(ROOT, 'examples', 'policy.yaml'));
    assert.ok(result.ok);
    const byId = Object.fromEntries(result.policy.rules.map((r) => [r.id, r]));
    assert.deepEqual([byId.global!.limit, byId.global!.windowMs, byId.global!.burst], [1000, 1000, 2000]);
    assert.deepEqual([byId['per-key']!.limit, byId['per-key']!.windowMs], [100, 60_000]);
    assert.equal(byId.reports!.mode, 'queue');
    assert.equal(byId.reports!.maxDelayMs, 2000);
    assert.deepEqual(byId.graphql!.cost, { kind: 'graphql', graphql: { maxDepth: 8, fieldCost: 1, listFactor: 10, maxCost: null } });
    assert.equal(byId.search!.shadow, true);
    assert.deepEqual(byId.search!.key, [{ kind: 'apiKey' }, { kind: 'ip' }]);
    assert.deepEqual(byId.login!.match.methods, ['POST']);
    assert.equal(byId.login!.countRejected, false);
    assert.equal(result.policy.store.failMode, 'open');
    assert.equal(result.policy.store.timeoutMs, 100);
    assert.equal(result.policy.identity.ipv6Prefix, 64);
    assert.equal(result.policy.identity.jwt!.scheme, 'Bearer');
    assert.equal(result.policy.tiers.enterprise!.shedPriority, 0);
    assert.equal(result.policy.tiers.free!.shedPriority, 2);
    assert.equal(result.policy.defaultTier, 'free');
    assert.deepEqual(result.policy.analyzer.actions.map((a) => a.action), ['block', 'tighten']);
    assert.equal(result.policy.analyzer.load!.targets.p99Ms, 250);
  });

  test('hashes raw API keys in clients and allowlist, so no key is kept in clear', () => {
    const result = loadPolicyFile(join(ROOT, 'examples', 'policy.yaml'));
    assert.ok(result.ok);
    assert.deepEqual(Object.keys(result.policy.clients), [`apiKey:${apiKeyId('demo-pro-key', undefined)}`]);
    assert.deepEqual(result.policy.analyzer.allowlist, [`apiKey:${apiKeyId('internal-monitor', undefined)}`]);
    assert.ok(!JSON.stringify(result.policy).includes('demo-pro-key'));
  });

  test('uses RW_HASH_KEY (HMAC) for key ids when given', () => {
    const text = readFileSync(join(ROOT, 'examples', 'policy.yaml'), 'utf8');
    const result = parsePolicy(text, { hashKey: 'secret' });
    assert.ok(result.ok);
    assert.deepEqual(Object.keys(result.policy.clients), [`apiKey:${apiKeyId('demo-pro-key', 'secret')}`]);
    assert.notEqual(apiKeyId('demo-pro-key', 'secret'), apiKeyId('demo-pro-key', undefined));
  });

  test('is deeply immutable', () => {
    const result = loadPolicyFile(join(ROOT, 'examples', 'policy.yaml'));
    assert.ok(result.ok);
    assert.throws(() => {
      (result.policy.rules[0] as { limit: number }).limit = 1;
    }, TypeError);
    assert.throws(() => {
      (result.policy.rules as unknown as unknown[]).push({});
    }, TypeError);
  });
});

describe('policy errors are reported with their path, value and line', () => {
  const tb = rule('id: a\nkey: [ip]\nalgorithm: token-bucket\nrate: 10/s');

  test('a YAML syntax error', () => {
    const errors = errorsOf('version: 1\nrules: [\n  - id: a\n');
    assert.equal(errors[0]!.code, ErrorCodes.POLICY_YAML);
    assert.ok(errors[0]!.line);
  });

  test('a duplicated YAML key', () => {
    assert.equal(errorsOf('version: 1\nversion: 1\nrules: []\n')[0]!.code, ErrorCodes.POLICY_YAML);
  });

  test('an unsupported version', () => expectError(minimal(tb).replace('version: 1', 'version: 2'), ErrorCodes.POLICY_VERSION, 'version'));

  test('an unknown key, with a suggestion', () =>
    expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: fixed-window\nlimt: 5\nwindow: 1s')), ErrorCodes.POLICY_UNKNOWN_KEY, 'rules[0].limt', 'did you mean "limit"'));

  test('an unknown top-level key', () => expectError(minimal(tb, 'rulez: []\n'), ErrorCodes.POLICY_UNKNOWN_KEY, 'rulez'));

  test('a missing required key', () => expectError('version: 1\n', ErrorCodes.POLICY_REQUIRED, 'rules'));

  test('a value of the wrong type', () => expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: fixed-window\nlimit: "five"\nwindow: 1s')), ErrorCodes.POLICY_TYPE, 'rules[0].limit', '"five" must be a number'));

  test('a value outside its enumeration', () => expectError(minimal(tb, 'store: { kind: redsi }\n'), ErrorCodes.POLICY_ENUM, 'store.kind', 'did you mean "redis"'));

  test('a number out of range', () => expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: fixed-window\nlimit: -5\nwindow: 1s')), ErrorCodes.POLICY_RANGE, 'rules[0].limit', '-5 must be > 0'));

  test('a malformed duration, exactly as the issue words it', () => {
    const text = minimal(tb + tb.replace('id: a', 'id: b') + rule('id: c\nkey: [ip]\nalgorithm: fixed-window\nlimit: 5\nwindow: 60x'));
    expectError(text, ErrorCodes.POLICY_DURATION, 'rules[2].window', '"60x" is not a duration');
    const line = errorsOf(text).find((e) => e.path === 'rules[2].window')!.line;
    assert.equal(text.split('\n')[line! - 1]!.trim(), 'window: 60x');
  });

  test('a malformed rate', () => expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: token-bucket\nrate: 10 per second')), ErrorCodes.POLICY_RATE, 'rules[0].rate'));

  test('a duplicate rule id', () => expectError(minimal(tb + tb), ErrorCodes.POLICY_DUPLICATE_ID, 'rules[1].id', 'already the id of rules[0]'));

  test('an invalid CIDR', () => expectError(minimal(tb, 'identity: { trustedProxies: [10.0.0.0/33] }\n'), ErrorCodes.POLICY_CIDR, 'identity.trustedProxies[0]'));

  test('an unknown key part', () => expectError(minimal(rule('id: a\nkey: [ip, apikey]\nalgorithm: token-bucket\nrate: 1/s')), ErrorCodes.POLICY_KEY_PART, 'rules[0].key[1]'));

  test('a key part whose identity source is not configured', () =>
    expectError(minimal(rule('id: a\nkey: [user]\nalgorithm: token-bucket\nrate: 1/s')), ErrorCodes.POLICY_KEY_PART, 'rules[0].key[0]', 'needs identity.jwt'));

  test('parameters that do not fit the algorithm', () => {
    expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: token-bucket')), ErrorCodes.POLICY_REQUIRED, 'rules[0]', 'needs rate');
    expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: fixed-window\nlimit: 5\nwindow: 1s\nburst: 10')), ErrorCodes.POLICY_ALGORITHM_PARAM, 'rules[0].burst');
    expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: token-bucket\nrate: 1/s\nmode: queue')), ErrorCodes.POLICY_ALGORITHM_PARAM, 'rules[0].mode');
    expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: concurrency\nlimit: 5\nwindow: 1s')), ErrorCodes.POLICY_ALGORITHM_PARAM, 'rules[0].window');
    expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: sliding-window-log\nlimit: 5\nwindow: 1s\nscope: global-leased')), ErrorCodes.POLICY_ALGORITHM_PARAM, 'rules[0].scope');
  });

  test('a client assigned to a tier that does not exist', () =>
    expectError(minimal(tb, 'clients: { "user:alice": { tier: gold } }\n'), ErrorCodes.POLICY_UNKNOWN_TIER, 'clients["user:alice"].tier', '"gold"'));

  test('a malformed client key', () => expectError(minimal(tb, 'clients: { "alice": { tier: free } }\n'), ErrorCodes.POLICY_CLIENT_KEY, 'clients.alice'));

  // a sidecar picks a tier by one identity at a time: a hybrid entry was accepted and never matched
  test('a client key naming several identities (a tier is assigned to one)', () =>
    expectError(minimal(tb, 'tiers: { free: {}, pro: {} }\nclients: { "user:alice|ip:203.0.113.5": { tier: pro } }\n'), ErrorCodes.POLICY_CLIENT_KEY, 'clients["user:alice|ip:203.0.113.5"]', 'names several identities'));

  test('an invalid path glob', () => expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: token-bucket\nrate: 1/s\nmatch: { path: "api/**" }')), ErrorCodes.POLICY_GLOB, 'rules[0].match.path'));

  test('an unknown HTTP method', () => expectError(minimal(rule('id: a\nkey: [ip]\nalgorithm: token-bucket\nrate: 1/s\nmatch: { method: FETCH }')), ErrorCodes.POLICY_METHOD, 'rules[0].match.method'));

  test('JWT settings that would be unsafe', () => {
    expectError(minimal(tb, 'identity: { jwt: { algorithms: [none] } }\n'), ErrorCodes.POLICY_ENUM, 'identity.jwt.algorithms[0]');
    expectError(minimal(tb, 'identity: { jwt: { algorithms: [HS256] } }\n'), ErrorCodes.POLICY_JWT, 'identity.jwt.secretEnv');
    expectError(minimal(tb, 'identity: { jwt: { algorithms: [HS256, RS256], secretEnv: S, publicKeyFile: k.pem } }\n'), ErrorCodes.POLICY_JWT, 'identity.jwt.algorithms', 'algorithm-confusion');
  });

  test('every error of a file is reported at once', () => {
    const text = `version: 1
store: { kind: redsi }
identity: { trustedProxies: [nope] }
rules:
  - { id: a, key: [ip], algorithm: fixed-window, limit: 5, window: 60x }
  - { id: a, key: [ipp], algorithm: token-bucket, rate: 5/s }
  - { id: c, key: [ip], algorithm: token-bucket, rate: 5/s, limt: 3 }
`;
    const codes = new Set(errorsOf(text).map((e) => e.code));
    for (const code of [ErrorCodes.POLICY_ENUM, ErrorCodes.POLICY_CIDR, ErrorCodes.POLICY_DURATION, ErrorCodes.POLICY_DUPLICATE_ID, ErrorCodes.POLICY_KEY_PART, ErrorCodes.POLICY_UNKNOWN_KEY]) {
      assert.ok(codes.has(code), `missing ${code} in ${[...codes].join(', ')}`);
    }
  });

  test('a file that cannot be read', () => {
    const result = loadPolicyFile('/nonexistent/policy.yaml');
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.errors[0]!.code, ErrorCodes.POLICY_FILE);
  });

  test('a document that is not a mapping', () => assert.equal(errorsOf('- 1\n- 2\n')[0]!.code, ErrorCodes.POLICY_TYPE));
});

describe('policy defaults and shorthand', () => {
  test('rate and limit+window mean the same thing', () => {
    const a = parsePolicy(minimal(rule('id: a\nkey: [ip]\nalgorithm: fixed-window\nrate: 100/m')));
    const b = parsePolicy(minimal(rule('id: a\nkey: [ip]\nalgorithm: fixed-window\nlimit: 100\nwindow: 60s')));
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a.policy.rules[0], b.policy.rules[0]);
  });

  test('a rate may name its period as a duration', () => {
    const r = parsePolicy(minimal(rule('id: a\nkey: [ip]\nalgorithm: token-bucket\nrate: 1000/10s')));
    assert.ok(r.ok);
    assert.deepEqual([r.policy.rules[0]!.limit, r.policy.rules[0]!.windowMs, r.policy.rules[0]!.burst], [1000, 10_000, 1000]);
  });

  test('a store section without kind is the memory store, with its other settings kept', () => {
    const r = parsePolicy(minimal(rule('id: a\nkey: [global]\nalgorithm: concurrency\nlimit: 10'), 'store: { failMode: closed, maxKeys: 5000 }\n'));
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual([r.policy.store.kind, r.policy.store.failMode, r.policy.store.maxKeys], ['memory', 'closed', 5000]);
  });

  test('an empty store section means memory, fail open', () => {
    const r = parsePolicy(minimal(rule('id: a\nkey: [global]\nalgorithm: concurrency\nlimit: 10')));
    assert.ok(r.ok);
    assert.deepEqual([r.policy.store.kind, r.policy.store.failMode, r.policy.rules[0]!.windowMs], ['memory', 'open', 60_000]);
    assert.deepEqual(r.policy.headers, ['x-ratelimit', 'ietf']);
    assert.deepEqual(r.policy.analyzer.actions, []);
  });
});

test('an API key in clients or the allowlist is read as the sidecar reads one from a request: trimmed; a blank one is an error', () => {
  const r = parsePolicy(`
version: 1
identity: { apiKey: { header: x-api-key } }
tiers: { free: {}, pro: { multiplier: 2 } }
clients:
  "apiKey: sk_pro_1 ": { tier: pro }
analyzer:
  allowlist: ["apiKey: monitor"]
rules:
  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 1, window: 1m }
`);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(Object.keys(r.policy.clients), [`apiKey:${apiKeyId('sk_pro_1', undefined)}`]);
  assert.deepEqual(r.policy.analyzer.allowlist, [`apiKey:${apiKeyId('monitor', undefined)}`]);
  const long = parsePolicy(`version: 1\ntiers: { free: {}, pro: {} }\nclients: { "apiKey:${'k'.repeat(513)}": { tier: pro } }\nrules:\n  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 1, window: 1m }\n`);
  assert.equal(long.ok, false, 'a key over 512 characters, which a sidecar reads as no key');
  const blank = parsePolicy('version: 1\ntiers: { free: {}, pro: {} }\nclients: { "apiKey:   ": { tier: pro } }\nrules:\n  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 1, window: 1m }\n');
  assert.equal(blank.ok, false);
  assert.equal(blank.ok ? '' : blank.errors[0]!.code, ErrorCodes.POLICY_CLIENT_KEY);
});

test('errors and warnings never carry an API key of clients or allowlist in clear: apiKey:<id …> instead', () => {
  const r = parsePolicy(`
version: 1
identity: { apiKey: { header: x-api-key } }
tiers: { free: {}, pro: { multiplier: 2 } }
clients:
  "apiKey:sk_live_SUPERSECRET_4242": { tier: prro }
analyzer:
  allowlist: ["apiKey:sk_live_ALLOW|bogus:x"]
rules:
  - { id: r, key: [apiKey], algorithm: fixed-window, limit: 1, window: 1m }
`);
  assert.equal(r.ok, false);
  const text = JSON.stringify(r);
  assert.ok(!text.includes('sk_live_SUPERSECRET_4242') && !text.includes('sk_live_ALLOW'), text);
  assert.ok(text.includes(`apiKey:<id ${apiKeyId('sk_live_SUPERSECRET_4242', undefined)}>`), text);
});
