/**
 * Policy values that parsed but could never work: periods that round to 0 ms, durations and numbers
 * no answer can hold, costs no bucket or window can ever admit, client keys that never match the
 * sidecar's keys, and tier names found on Object.prototype.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, formatPolicyErrors, type Policy, type PolicyError } from '../../../models/policy/index.js';
import { canonicalClientIp } from '../../../models/ipKey.js';
import { ErrorCodes } from '../../../models/errors.js';

const HEAD = 'version: 1\n';

function ok(text: string): { policy: Policy; warnings: readonly string[] } {
  const r = parsePolicy(text);
  assert.ok(r.ok, r.ok ? '' : formatPolicyErrors(r.errors));
  return { policy: r.policy, warnings: r.warnings };
}

function expectError(text: string, code: string, path: string, messagePart: RegExp): PolicyError {
  const r = parsePolicy(text);
  assert.equal(r.ok, false, 'expected the policy to be rejected');
  const errors = r.ok ? [] : r.errors;
  const hit = errors.find((e) => e.code === code && e.path === path);
  assert.ok(hit, `expected ${code} at ${path}, got:\n${formatPolicyErrors(errors)}`);
  assert.match(hit.message, messagePart);
  return hit;
}

const oneRule = (rule: string, extra = ''): string => `${HEAD}${extra}rules:\n  - ${rule}\n`;

describe('rate periods', () => {
  test('a rate whose period rounds to 0 ms is refused, as the same window is', () => {
    for (const rate of ['10/0.4ms', '10/0ms', '10/0s']) {
      expectError(oneRule(`{ id: a, key: ip, algorithm: token-bucket, rate: ${rate} }`), ErrorCodes.POLICY_RANGE, 'rules[0].rate', /period of at least 1ms/);
    }
    expectError(oneRule('{ id: a, key: ip, algorithm: fixed-window, limit: 10, window: 0.4ms }'), ErrorCodes.POLICY_RANGE, 'rules[0].window', /longer than 0/);
  });

  test('a period of 0.6 ms rounds to 1 ms and is kept', () => {
    const { policy } = ok(oneRule('{ id: a, key: ip, algorithm: sliding-window-counter, rate: 10/0.6ms }'));
    assert.equal(policy.rules[0]!.windowMs, 1);
  });
});

describe('bounds on durations and numbers', () => {
  test('a duration over 365 days is refused wherever durations are taken', () => {
    expectError(oneRule('{ id: a, key: ip, algorithm: fixed-window, limit: 1, window: 99999999999999999999d }'), ErrorCodes.POLICY_RANGE, 'rules[0].window', /at most 365d/);
    expectError(oneRule('{ id: a, key: ip, algorithm: token-bucket, rate: 1/366d }'), ErrorCodes.POLICY_RANGE, 'rules[0].rate', /at most 365d/);
    expectError(
      oneRule('{ id: a, key: ip, algorithm: concurrency, limit: 2 }', 'analyzer: { actions: [ { minScore: 0.9, action: block, ttl: 200000000d } ] }\n'),
      ErrorCodes.POLICY_RANGE,
      'analyzer.actions[0].ttl',
      /at most 365d/,
    );
    expectError(oneRule('{ id: a, key: ip, algorithm: concurrency, limit: 2 }', 'analyzer: { cooldown: 400d }\n'), ErrorCodes.POLICY_RANGE, 'analyzer.cooldown', /at most 365d/);
    const { policy } = ok(oneRule('{ id: a, key: ip, algorithm: fixed-window, limit: 1, window: 365d }', 'analyzer: { actions: [ { minScore: 0.9, action: block, ttl: 365d } ] }\n'));
    assert.equal(policy.rules[0]!.windowMs, 365 * 86_400_000);
    assert.equal(policy.analyzer.actions[0]!.ttlMs, 365 * 86_400_000);
  });

  test('limits, bursts and rate amounts are at most 1e12; tier multipliers at most 1e6', () => {
    expectError(oneRule('{ id: a, key: ip, algorithm: sliding-window-log, limit: 1e20, window: 1s }'), ErrorCodes.POLICY_RANGE, 'rules[0].limit', /≤ 1000000000000/);
    expectError(oneRule('{ id: a, key: ip, algorithm: token-bucket, rate: 10/s, burst: 1e13 }'), ErrorCodes.POLICY_RANGE, 'rules[0].burst', /≤ 1000000000000/);
    expectError(oneRule('{ id: a, key: ip, algorithm: token-bucket, rate: 2000000000000/s }'), ErrorCodes.POLICY_RANGE, 'rules[0].rate', /at most 1000000000000/);
    expectError(oneRule('{ id: a, key: ip, algorithm: token-bucket, rate: 5/s }', 'tiers: { free: { multiplier: 1e308 } }\n'), ErrorCodes.POLICY_RANGE, 'tiers.free.multiplier', /≤ 1000000/);
    ok(oneRule('{ id: a, key: ip, algorithm: token-bucket, rate: 1000000000000/s, burst: 1000000000000 }', 'tiers: { free: { multiplier: 1000000 } }\n'));
  });
});

describe('costs a rule can never admit', () => {
  test('a fixed cost above a token bucket’s burst is refused', () => {
    expectError(oneRule('{ id: b, key: ip, algorithm: token-bucket, rate: 10/s, burst: 2, cost: 5 }'), ErrorCodes.POLICY_RANGE, 'rules[0].cost', /5 is more than burst \(2\)/);
    ok(oneRule('{ id: b, key: ip, algorithm: token-bucket, rate: 10/s, burst: 5, cost: 5 }'));
  });

  test('a fixed cost above a window’s limit is refused', () => {
    for (const algorithm of ['fixed-window', 'sliding-window-log', 'sliding-window-counter']) {
      expectError(oneRule(`{ id: w, key: ip, algorithm: ${algorithm}, limit: 3, window: 1s, cost: 5 }`), ErrorCodes.POLICY_RANGE, 'rules[0].cost', /5 is more than the limit \(3\)/);
    }
  });

  test('a burst below one request is refused (cost 1 by default, and the least a GraphQL request costs)', () => {
    expectError(oneRule('{ id: b, key: ip, algorithm: token-bucket, rate: 10/s, burst: 0.5 }'), ErrorCodes.POLICY_RANGE, 'rules[0].burst', /0.5 holds less than one request/);
    expectError(
      oneRule('{ id: g, key: ip, algorithm: leaky-bucket, rate: 10/s, burst: 0.5, cost: { graphql: { maxDepth: 3 } } }'),
      ErrorCodes.POLICY_RANGE,
      'rules[0].burst',
      /holds less than one request/,
    );
    ok(oneRule('{ id: b, key: ip, algorithm: token-bucket, rate: 10/s, burst: 0.5, cost: 0.5 }'));
  });

  test('the leaky bucket in queue mode admits up to burst + maxDelay / T, its own bound', () => {
    // T = 1 s / 2 = 500 ms: maxDelay 2s queues 4 more units than the burst of 1
    ok(oneRule('{ id: q, key: ip, algorithm: leaky-bucket, rate: 2/s, burst: 1, mode: queue, maxDelay: 2s, cost: 5 }'));
    expectError(
      oneRule('{ id: q, key: ip, algorithm: leaky-bucket, rate: 2/s, burst: 1, mode: queue, maxDelay: 2s, cost: 6 }'),
      ErrorCodes.POLICY_RANGE,
      'rules[0].cost',
      /6 is more than burst plus what maxDelay queues \(5\)/,
    );
    expectError(oneRule('{ id: q, key: ip, algorithm: leaky-bucket, rate: 2/s, burst: 1, cost: 5 }'), ErrorCodes.POLICY_RANGE, 'rules[0].cost', /5 is more than burst \(1\)/);
  });

  test('a GraphQL maxCost above the burst or limit is a warning, not an error', () => {
    const { warnings } = ok(oneRule('{ id: g, key: ip, algorithm: token-bucket, rate: 10/s, burst: 10, cost: { graphql: { maxDepth: 3, maxCost: 100 } } }'));
    assert.ok(warnings.some((w) => /rules\[0\] \(g\): cost\.graphql\.maxCost 100 is more than burst \(10\)/.test(w)), warnings.join('\n'));
    const fine = ok(oneRule('{ id: g, key: ip, algorithm: token-bucket, rate: 10/s, burst: 100, cost: { graphql: { maxDepth: 3, maxCost: 100 } } }'));
    assert.deepEqual(fine.warnings, []);
  });
});

describe('ip: client keys are the sidecar’s keys', () => {
  test('the canonical form is the key the sidecar forms (one function for both): IPv6 as its network, mapped IPv4 as IPv4', () => {
    const key = (text: string, prefix: number): string => {
      const r = canonicalClientIp(text, prefix);
      assert.ok(r.ok, `${text}: ${r.ok ? '' : r.problem}`);
      return r.key;
    };
    assert.equal(key('10.0.0.1', 64), '10.0.0.1');
    assert.equal(key('::ffff:198.51.100.7', 64), '198.51.100.7');
    assert.equal(key('2001:DB8:1:2:aaaa:bbbb:cccc:dddd', 64), '2001:db8:1:2::/64');
    assert.equal(key('2001:db8:1:2::5', 56), '2001:db8:1::/56');
    assert.equal(key('fe80::1%eth0', 128), 'fe80::1');
    assert.equal(key('2001:db8:1:2::/64', 64), '2001:db8:1:2::/64');
  });

  test('clients and the analyzer allowlist hold IPv6 addresses as their identity.ipv6Prefix network, IPv4 as dotted', () => {
    const { policy } = ok(
      oneRule(
        '{ id: a, key: ip, algorithm: concurrency, limit: 2 }',
        `clients:\n  "ip:2001:DB8:1:2::5": { tier: pro }\n  "ip:::ffff:198.51.100.7": { tier: pro }\n` +
          `tiers: { free: {}, pro: {} }\nanalyzer: { allowlist: ["ip:2001:db8:1:2:ffff::1", "apiKeyId:0123456789abcdef|ip:2001:db8:9::1"] }\n`,
      ),
    );
    assert.deepEqual(Object.keys(policy.clients).sort(), ['ip:198.51.100.7', 'ip:2001:db8:1:2::/64']);
    assert.deepEqual(policy.analyzer.allowlist, ['ip:2001:db8:1:2::/64', 'apiKey:0123456789abcdef|ip:2001:db8:9::/64']);
    const p56 = ok(oneRule('{ id: a, key: ip, algorithm: concurrency, limit: 2 }', 'identity: { ipv6Prefix: 56 }\nanalyzer: { allowlist: ["ip:2001:db8:1:2::5"] }\n'));
    assert.deepEqual(p56.policy.analyzer.allowlist, ['ip:2001:db8:1::/56']);
  });

  test('the sidecar’s own /prefix form is accepted; other CIDRs and non-addresses are refused with the key’s path', () => {
    const { policy } = ok(oneRule('{ id: a, key: ip, algorithm: concurrency, limit: 2 }', 'analyzer: { allowlist: ["ip:2001:db8:1:2::/64"] }\n'));
    assert.deepEqual(policy.analyzer.allowlist, ['ip:2001:db8:1:2::/64']);
    const rule = '{ id: a, key: ip, algorithm: concurrency, limit: 2 }';
    expectError(oneRule(rule, 'analyzer: { allowlist: ["apiKey:internal-monitor", "ip:10.0.0.0/8"] }\n'), ErrorCodes.POLICY_CLIENT_KEY, 'analyzer.allowlist[1]', /is a CIDR: client keys name one client/);
    expectError(oneRule(rule, 'analyzer: { allowlist: ["ip:2001:db8::/48"] }\n'), ErrorCodes.POLICY_CLIENT_KEY, 'analyzer.allowlist[0]', /is a CIDR/);
    expectError(oneRule(rule, 'clients: { "ip:10.0.0.1/32": { tier: free } }\n'), ErrorCodes.POLICY_CLIENT_KEY, 'clients["ip:10.0.0.1/32"]', /is a CIDR/);
    expectError(oneRule(rule, 'clients: { "ip:not-an-ip": { tier: free } }\n'), ErrorCodes.POLICY_CLIENT_KEY, 'clients["ip:not-an-ip"]', /is not an IP address/);
  });

  test('two spellings of one client are one client', () => {
    expectError(
      oneRule('{ id: a, key: ip, algorithm: concurrency, limit: 2 }', 'clients:\n  "ip:2001:db8:1:2::5": { tier: free }\n  "ip:2001:db8:1:2::6": { tier: free }\n'),
      ErrorCodes.POLICY_CLIENT_KEY,
      'clients["ip:2001:db8:1:2::6"]',
      /names the same client as clients\["ip:2001:db8:1:2::5"\]/,
    );
  });
});

describe('tier names are own names only', () => {
  const rule = '{ id: a, key: ip, algorithm: concurrency, limit: 2 }';

  test('defaultTier and a client tier naming an Object.prototype property are unknown tiers', () => {
    expectError(oneRule(rule, 'defaultTier: toString\n'), ErrorCodes.POLICY_UNKNOWN_TIER, 'defaultTier', /"toString" is not a tier/);
    expectError(oneRule(rule, 'clients: { "ip:1.2.3.4": { tier: constructor } }\n'), ErrorCodes.POLICY_UNKNOWN_TIER, 'clients["ip:1.2.3.4"].tier', /"constructor" is not a tier/);
    expectError(oneRule(rule, 'clients: { "ip:1.2.3.4": { tier: __proto__ } }\n'), ErrorCodes.POLICY_UNKNOWN_TIER, 'clients["ip:1.2.3.4"].tier', /"__proto__" is not a tier/);
  });

  test('a tier or client named __proto__ is an error, not silently dropped', () => {
    expectError(oneRule(rule, 'tiers: { free: {}, __proto__: { multiplier: 100 } }\n'), ErrorCodes.POLICY_TYPE, 'tiers.__proto__', /cannot be used as a name/);
    expectError(oneRule(rule, 'clients: { __proto__: { tier: free } }\n'), ErrorCodes.POLICY_CLIENT_KEY, 'clients.__proto__', /cannot be used as a name/);
  });

  test('tiers named like Object.prototype properties are ordinary tiers; lookups find nothing inherited', () => {
    const { policy } = ok(oneRule(rule, 'tiers: { constructor: { multiplier: 2 } }\ndefaultTier: constructor\nclients: { "ip:1.2.3.4": { tier: constructor } }\n'));
    assert.equal(policy.tiers['constructor']?.multiplier, 2);
    assert.equal(policy.tiers.toString, undefined);
    assert.equal(policy.clients.toString, undefined);
  });
});

describe('durations run as timers', () => {
  // Node fires a timer longer than 2^31 − 1 ms (24.8 d) after 1 ms: a 30d load interval judged every
  // millisecond, a 30d upstream timeout would time out every request at once
  const cases: Array<[string, string, string]> = [
    [oneRule('{ id: q, key: ip, algorithm: leaky-bucket, rate: 1/30d, burst: 1, mode: queue, maxDelay: 30d }'), 'rules[0].maxDelay', '24d'],
    [oneRule('{ id: c, key: ip, algorithm: concurrency, limit: 5, timeout: 25d }'), 'rules[0].timeout', '24d'],
    [`${HEAD}store: { kind: redis, timeout: 30d }\nrules: []\n`, 'store.timeout', '24d'],
    [`${HEAD}upstream: { timeout: 30d }\nrules: []\n`, 'upstream.timeout', '24d'],
    [`${HEAD}rules: []\nanalyzer:\n  load: { targets: { p99: 250ms }, interval: 30d }\n`, 'analyzer.load.interval', '24d'],
  ];
  test('are at most 24d, named as such', () => {
    for (const [text, path] of cases) expectError(text, ErrorCodes.POLICY_RANGE, path, /at most 24d \(it is a timer\)/);
  });
  test('24d itself is kept', () => {
    for (const [text] of cases) ok(text.replace(/\b(30d|25d)\b/g, '24d'));
  });
});

describe('load gauges', () => {
  test('a negative upper target is refused (any gauge that counts is above it: the service would always be tightened)', () => {
    expectError(`${HEAD}rules: []\nanalyzer:\n  load: { targets: { p99: 250ms }, metricsUrl: "http://127.0.0.1:1/metrics", gauges: { queue_depth: -1 } }\n`, ErrorCodes.POLICY_RANGE, 'analyzer.load.gauges.queue_depth', /≥ 0/);
    ok(`${HEAD}rules: []\nanalyzer:\n  load: { targets: { p99: 250ms }, metricsUrl: "http://127.0.0.1:1/metrics", gauges: { queue_depth: 0 } }\n`);
  });
});
