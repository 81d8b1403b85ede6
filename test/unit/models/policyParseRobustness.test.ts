import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, formatPolicyErrors, type PolicyError } from '../../../models/policy/index.js';
import { ErrorCodes } from '../../../models/errors.js';

function errorsOf(text: string): readonly PolicyError[] {
  const result = parsePolicy(text);
  assert.equal(result.ok, false, 'expected the policy to be rejected');
  return result.ok ? [] : result.errors;
}
const fw = (limit: string) => `version: 1\nrules:\n  - { id: a, key: [ip], algorithm: fixed-window, limit: ${limit}, window: 1s }\n`;

describe('non-finite numbers', () => {
  for (const [written, shown] of [['.nan', '.nan'], ['.inf', '.inf'], ['-.inf', '-.inf'], ['1e400', '1e400']] as const) {
    test(`limit: ${written} is named as written, not as "null"`, () => {
      const errors = errorsOf(fw(written));
      const e = errors.find((x) => x.path === 'rules[0].limit');
      assert.ok(e, formatPolicyErrors(errors));
      assert.doesNotMatch(e.message, /null/, e.message);
      assert.ok(e.message.startsWith(shown + ' '), e.message);
      assert.match(e.message, /finite number/);
    });
  }
});

describe('duplicate keys', () => {
  test('two keys that become the same name (1 and "1") are a duplicate key, not a silent last-wins', () => {
    const errors = errorsOf('version: 1\ntiers: { 1: { multiplier: 2 }, "1": { multiplier: 3 } }\ndefaultTier: "1"\nrules: []\n');
    assert.equal(errors[0]!.code, ErrorCodes.POLICY_YAML);
    assert.match(errors[0]!.message, /unique/);
    assert.equal(errors[0]!.line, 2);
  });

  test('a duplicate key deep in a rule is reported with its line', () => {
    const errors = errorsOf('version: 1\nrules:\n  - id: a\n    key: [ip]\n    algorithm: fixed-window\n    limit: 1\n    window: 1s\n    limit: 2\n');
    assert.equal(errors[0]!.code, ErrorCodes.POLICY_YAML);
    assert.equal(errors[0]!.line, 8);
  });
});

describe('large files are parsed in time linear in their size', () => {
  // a sidecar parses a reloaded file on its event loop: every request waits while it does. Four
  // times the entries may take about four times as long (11 allows for noise: a loaded CI machine
  // once read 8.6 with one timing of the large file), never sixteen.
  const timed = (text: string, runs: number): number => {
    let best = Infinity;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      parsePolicy(text);
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  };
  const ratio = (make: (n: number) => string, n: number): number => {
    timed(make(n), 1); // warm up
    return timed(make(4 * n), 2) / timed(make(n), 3);
  };

  test('a clients section of 40 000 entries (2 MB) costs 4 times one of 10 000', () => {
    const clients = (n: number): string =>
      'version: 1\ntiers: { free: {}, pro: {} }\nrules: []\nclients:\n' + Array.from({ length: n }, (_, i) => `  "user:u${i}": { tier: pro }`).join('\n') + '\n';
    assert.equal(parsePolicy(clients(10)).ok, true);
    const r = ratio(clients, 10_000);
    assert.ok(r < 11, `4× the entries took ${r.toFixed(1)}× as long`);
  });

  test('40 000 unknown keys, all reported with their lines, cost 4 times 10 000', () => {
    const unknown = (n: number): string => 'version: 1\nrules: []\nstore:\n' + Array.from({ length: n }, (_, i) => `  k${i}: 1`).join('\n') + '\n';
    const errors = errorsOf(unknown(40_000));
    assert.equal(errors.length, 40_000);
    assert.equal(errors[39_999]!.line, 40_003);
    const r = ratio(unknown, 10_000);
    assert.ok(r < 11, `4× the keys took ${r.toFixed(1)}× as long`);
  });
});

describe('deep nesting', () => {
  for (const depth of [65, 500, 1_000, 5_000, 100_000]) {
    test(`${depth} nested lists are one clear error, never a crash or an internal message`, () => {
      const errors = errorsOf('version: 1\nrules: ' + '['.repeat(depth) + ']'.repeat(depth) + '\n');
      assert.equal(errors.length, 1, formatPolicyErrors(errors));
      assert.doesNotMatch(errors[0]!.message, /call stack/i);
      assert.match(errors[0]!.message, /nested too deeply \(more than 64 levels\)/);
    });
  }

  test('64 levels are still a document (refused for what it holds, not for its depth)', () => {
    const errors = errorsOf('version: 1\nrules: ' + '['.repeat(63) + ']'.repeat(63) + '\n');
    assert.equal(errors[0]!.path, 'rules[0]');
  });
});

describe('key parts', () => {
  test('header names differ only by case: the same key part twice', () => {
    const errors = errorsOf('version: 1\nrules:\n  - { id: a, key: ["header:X-Tenant", "header:x-tenant"], algorithm: fixed-window, limit: 1, window: 1s }\n');
    const e = errors.find((x) => x.path === 'rules[0].key[1]');
    assert.ok(e, formatPolicyErrors(errors));
    assert.equal(e.code, ErrorCodes.POLICY_KEY_PART);
  });
});

describe('analyzer.load.gauges', () => {
  test('a gauge named __proto__ is an error, not silently dropped', () => {
    const errors = errorsOf('version: 1\nrules: []\nanalyzer: { load: { targets: { p99: 1s }, metricsUrl: "http://x/metrics", gauges: { __proto__: 5 } } }\n');
    assert.ok(errors.some((e) => e.path === 'analyzer.load.gauges.__proto__'), formatPolicyErrors(errors));
  });
});
