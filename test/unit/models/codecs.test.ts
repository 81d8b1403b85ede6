import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DECISIONS, decodeCallEvent, encodeCallEvent, eventsTopic, type CallEvent } from '../../../models/events.js';
import { decodeControlMessage, decodeControlValue, overrideField, parseOverrideField } from '../../../models/control.js';
import { decodeAnomalyReport, encodeAnomalyReport, type AnomalyReport } from '../../../models/anomaly.js';
import { ErrorCodes } from '../../../models/errors.js';
import { apiKeyId, formatClientKey, parseClientKey, sanitizeKeyValue } from '../../../models/clientKey.js';
import { formatDuration, parseDuration, parseRate } from '../../../models/duration.js';

const callEvent = (over: Partial<CallEvent> = {}): CallEvent => ({
  v: 1, ts: 1_733_356_800_000, pod: 'api-7d9f', service: 'api', method: 'GET', route: '/api/items/42', status: 200,
  latencyMs: 3.2, bytesIn: 0, bytesOut: 512, ip: '10.1.2.3', client: 'apiKey:9f86d081884c7d65', user: null,
  uaHash: 'a1b2c3d4', decision: 'allowed', rule: 'per-key', cost: 1, tier: 'free', ...over,
});

const arbEvent: fc.Arbitrary<CallEvent> = fc.record({
  v: fc.constant(1 as const),
  ts: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  pod: fc.string({ maxLength: 30 }),
  service: fc.string({ maxLength: 30 }),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
  route: fc.string({ maxLength: 100 }),
  status: fc.integer({ min: 100, max: 599 }),
  latencyMs: fc.double({ min: 0, max: 60_000, noNaN: true }),
  bytesIn: fc.nat(),
  bytesOut: fc.nat(),
  ip: fc.ipV4(),
  client: fc.string({ minLength: 1, maxLength: 60 }),
  user: fc.option(fc.string({ maxLength: 20 }), { nil: null }),
  uaHash: fc.option(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 8, maxLength: 16 }), { nil: null }),
  decision: fc.constantFrom(...DECISIONS),
  rule: fc.option(fc.constantFrom('global', 'per-key'), { nil: null }),
  cost: fc.double({ min: 0, max: 1000, noNaN: true }),
});

describe('CallEvent codec', () => {
  test('the events topic: RW_EVENTS_TOPIC, else the policy\'s events.topic, else ratewarden.events (sidecars and the analyzer alike)', () => {
    assert.equal(eventsTopic({}, null), 'ratewarden.events');
    assert.equal(eventsTopic({}, 'checkout.events'), 'checkout.events');
    assert.equal(eventsTopic({ RW_EVENTS_TOPIC: 'env.events' }, 'checkout.events'), 'env.events');
  });

  test('round-trips every valid event unchanged', () => {
    fc.assert(fc.property(arbEvent, (event) => {
      const decoded = decodeCallEvent(encodeCallEvent(event));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
      assert.deepEqual(decoded.value, { ...event });
    }));
  });

  test('decodes from a Kafka message Buffer', () => {
    const decoded = decodeCallEvent(Buffer.from(encodeCallEvent(callEvent())));
    assert.ok(decoded.ok);
    assert.equal(decoded.value.client, 'apiKey:9f86d081884c7d65');
  });

  test('rejects an unknown version with a version error', () => {
    const d = decodeCallEvent(JSON.stringify({ ...callEvent(), v: 2 }));
    assert.equal(d.ok, false);
    assert.equal(!d.ok && d.code, ErrorCodes.CODEC_VERSION);
  });

  test('rejects non-JSON, non-objects and wrong field types, naming the field', () => {
    assert.equal((decodeCallEvent('{nope') as { code: string }).code, ErrorCodes.CODEC_JSON);
    assert.equal((decodeCallEvent('[1]') as { code: string }).code, ErrorCodes.CODEC_JSON);
    const bad = decodeCallEvent(JSON.stringify({ ...callEvent(), status: '200' }));
    assert.equal(bad.ok, false);
    assert.match(!bad.ok ? bad.error : '', /status/);
    const badDecision = decodeCallEvent(JSON.stringify({ ...callEvent(), decision: 'maybe' }));
    assert.match(!badDecision.ok ? badDecision.error : '', /decision must be one of/);
  });

  test('rejects finite numbers past the bounds: bytes, latency, cost and ts that would overflow the analyzer\'s sums', () => {
    for (const [field, value] of [['bytesIn', 1e308], ['bytesOut', 2 ** 53], ['latencyMs', 86_400_001], ['cost', 1e300], ['ts', 1e16]] as const) {
      const d = decodeCallEvent(JSON.stringify({ ...callEvent(), [field]: value }));
      assert.equal(d.ok, false, field);
      assert.equal(!d.ok && d.code, ErrorCodes.CODEC_FIELD);
      assert.match(!d.ok ? d.error : '', new RegExp(`^${field} must be ≤`));
    }
    assert.ok(decodeCallEvent(JSON.stringify({ ...callEvent(), bytesIn: 2 ** 40, bytesOut: 2 ** 40, latencyMs: 3_600_000, cost: 1e9 })).ok, 'large but real values pass');
  });

  test('rejects oversized messages before parsing them', () => {
    const d = decodeCallEvent(JSON.stringify({ ...callEvent(), route: 'x'.repeat(70_000) }));
    assert.equal(d.ok, false);
  });
});

describe('control-plane codecs', () => {
  test('decode a block, an unblock, an override and a load message', () => {
    const block = decodeControlMessage(JSON.stringify({ v: 1, seq: 7, kind: 'block', field: 'apiKey:9f86d081884c7d65', value: { until: 1, reason: 'r', seq: 7 } }));
    assert.ok(block.ok);
    const unblock = decodeControlMessage(JSON.stringify({ v: 1, seq: 8, kind: 'block', field: 'apiKey:9f86d081884c7d65', value: null }));
    assert.ok(unblock.ok && unblock.value.value === null);
    const override = decodeControlMessage(JSON.stringify({ v: 1, seq: 9, kind: 'override', field: 'per-key|apiKey:ab|ip:10.0.0.1', value: { multiplier: 0.2, until: 5, reason: 'r', seq: 9 } }));
    assert.ok(override.ok);
    const load = decodeControlMessage(JSON.stringify({ v: 1, seq: 10, kind: 'load', field: 'api', value: { multiplier: 0.5, since: 1, reason: 'p99', seq: 10 } }));
    assert.ok(load.ok);
  });

  test('rejects malformed control messages with a reason', () => {
    const cases: unknown[] = [
      { v: 1, seq: 1, kind: 'nuke', field: 'x', value: null },
      { v: 1, seq: 1, kind: 'block', field: 'x' },
      { v: 1, seq: 1, kind: 'block', field: 'x', value: { reason: 'no until', seq: 1 } },
      { v: 1, seq: 1, kind: 'override', field: 'no-bar', value: { multiplier: 0.5, until: 1, reason: 'r', seq: 1 } },
      { v: 1, seq: 1, kind: 'override', field: 'a|b', value: { until: 1, reason: 'neither', seq: 1 } },
      { v: 1, seq: 1, kind: 'load', field: 's', value: { multiplier: 3, since: 1, reason: 'r', seq: 1 } },
      { v: 2, seq: 1, kind: 'block', field: 'x', value: null },
      { v: 1, seq: 0, kind: 'block', field: 'x', value: null },
    ];
    for (const c of cases) assert.equal(decodeControlMessage(JSON.stringify(c)).ok, false, JSON.stringify(c));
    assert.equal(decodeControlMessage('not json').ok, false);
  });

  test('override fields split at the first bar, so hybrid client keys survive', () => {
    const field = overrideField('per-key', 'apiKey:ab|ip:10.0.0.1');
    assert.deepEqual(parseOverrideField(field), { ruleId: 'per-key', client: 'apiKey:ab|ip:10.0.0.1' });
    assert.deepEqual(parseOverrideField('*|*'), { ruleId: '*', client: '*' });
    assert.equal(parseOverrideField('|x'), null);
  });

  test('an until or since no Date can hold is refused, so no reader formats an invalid date', () => {
    const at = (value: Record<string, unknown>, kind = 'block') => decodeControlMessage(JSON.stringify({ v: 1, seq: 1, kind, field: kind === 'override' ? 'r|*' : 'x', value: { reason: 'r', seq: 1, ...value } }));
    assert.equal(at({ until: 8.64e15 }).ok, true);
    for (const [kind, value] of [
      ['block', { until: 8.64e15 + 1 }],
      ['block', { until: 1.7e12 + 200_000_000 * 86_400_000 }], // ttl: 200000000d
      ['override', { multiplier: 0.5, until: 1e300 }],
      ['load', { multiplier: 0.5, since: 1, until: 9e15 }],
      ['load', { multiplier: 0.5, since: 9e15 }],
    ] as const) {
      const d = at(value, kind);
      assert.equal(d.ok, false, JSON.stringify(value));
      assert.match(d.ok ? '' : d.error, /(until|since) must be ≤ 8640000000000000/);
    }
    assert.equal(decodeControlValue('block', '{"until":8640000000000001,"reason":"r","seq":1}').ok, false);
  });

  test('an override multiplier over 1000 or limit over 1e12 is refused: the stores\' arithmetic overflows past them', () => {
    const override = (value: Record<string, unknown>) => decodeControlValue('override', JSON.stringify({ until: 1, reason: 'r', seq: 1, ...value }));
    assert.equal(override({ multiplier: 1000 }).ok, true);
    assert.equal(override({ limit: 1e12 }).ok, true);
    for (const value of [{ multiplier: 1e300 }, { multiplier: 1000.5 }, { limit: 1e13 }, { limit: 1e300, multiplier: 0.5 }]) {
      const d = override(value);
      assert.equal(d.ok, false, JSON.stringify(value));
      assert.match(d.ok ? '' : d.error, /(multiplier|limit) must be ≤/);
    }
  });

  test('decodes stored hash values of each kind', () => {
    assert.ok(decodeControlValue('load', '{"multiplier":0.4,"since":1,"reason":"r","seq":3,"tiers":{"free":0.1}}').ok);
    assert.equal(decodeControlValue('load', '{"multiplier":0.4,"since":1,"reason":"r","seq":3,"tiers":{"free":2}}').ok, false);
  });
});

describe('anomaly report codec', () => {
  const report: AnomalyReport = {
    v: 1, id: 'an_01', ts: 1_733_356_800_000, client: 'apiKey:9f86d081884c7d65', tier: 'free', service: 'api',
    window: { start: 1_733_356_790_000, end: 1_733_356_800_000, sizeMs: 10_000 },
    score: 0.93, detectors: { robust_z: 0.8, rules: 0.95, autoencoder: 0.6 },
    explanation: [{ feature: 'ratio_401_403', observed: 0.92, baseline: 0.01, spread: 0.02, z: 45.5, detector: 'rules', text: '401+403 ratio 0.92 vs 0.01 normal' }],
    summary: 'credential stuffing', action: { kind: 'block', ttlMs: 600_000, until: 1_733_357_400_000, applied: true },
    status: 'actioned', history: [{ ts: 1_733_356_800_000, who: 'analyzer', what: 'detected' }],
  };

  test('round-trips a full report', () => {
    const d = decodeAnomalyReport(encodeAnomalyReport(report));
    assert.ok(d.ok, d.ok ? '' : d.error);
    assert.deepEqual(d.value, report);
  });

  test('rejects a score outside [0, 1], a bad status and a broken history entry', () => {
    assert.equal(decodeAnomalyReport(JSON.stringify({ ...report, score: 1.2 })).ok, false);
    assert.equal(decodeAnomalyReport(JSON.stringify({ ...report, status: 'gone' })).ok, false);
    const d = decodeAnomalyReport(JSON.stringify({ ...report, history: [{ ts: 1, who: 'x' }] }));
    assert.match(!d.ok ? d.error : '', /history\[0\]\.what/);
  });
});

describe('client keys and durations', () => {
  test('an API key id is 16 hex digits of SHA-256, or of HMAC with RW_HASH_KEY', () => {
    assert.equal(apiKeyId('test', undefined), '9f86d081884c7d65'); // sha256("test") starts 9f86d081884c7d65
    assert.match(apiKeyId('test', 'k'), /^[0-9a-f]{16}$/);
    assert.notEqual(apiKeyId('test', 'k'), '9f86d081884c7d65');
  });

  test('client keys format and parse, with unsafe characters escaped', () => {
    const key = formatClientKey([['apiKey', '9f86d081884c7d65'], ['ip', '10.1.2.3']]);
    assert.equal(key, 'apiKey:9f86d081884c7d65|ip:10.1.2.3');
    assert.deepEqual(parseClientKey(key), [['apiKey', '9f86d081884c7d65'], ['ip', '10.1.2.3']]);
    assert.equal(sanitizeKeyValue('a|b c\n'), 'a%7cb%20c%0a');
    // the escape character is escaped too: a literal escape sequence is a different key
    assert.equal(sanitizeKeyValue('a%7cb'), 'a%257cb');
    assert.notEqual(sanitizeKeyValue('a|b'), sanitizeKeyValue('a%7cb'));
    // C1 controls (terminal escapes for some terminals) and bidirectional overrides are escaped too,
    // at a fixed width above U+00FF, so no escape reads as a shorter one followed by text
    assert.equal(sanitizeKeyValue('a\u009b31mb'), 'a%9b31mb');
    assert.equal(sanitizeKeyValue('evil\u202egnp.exe'), 'evil%u202egnp.exe');
    assert.notEqual(sanitizeKeyValue('\u202e'), sanitizeKeyValue(' 2e'));
    // long values are bounded, and two that share their first 256 characters stay apart
    const long = 'x'.repeat(300);
    assert.equal(sanitizeKeyValue(long).length, 256);
    assert.match(sanitizeKeyValue(long), /^x{239}~[0-9a-f]{16}$/);
    assert.notEqual(sanitizeKeyValue(long + 'a'), sanitizeKeyValue(long + 'b'));
    assert.equal(sanitizeKeyValue('x'.repeat(256)), 'x'.repeat(256));
    // the bound holds after escaping, which can triple a value
    assert.equal(sanitizeKeyValue('|'.repeat(200)).length, 256);
    assert.notEqual(sanitizeKeyValue('|'.repeat(200)), sanitizeKeyValue('|'.repeat(201)));
  });

  test('durations and rates parse and format', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5m'), 90_000);
    assert.equal(parseDuration('60x'), null);
    assert.equal(parseDuration(60), null);
    assert.deepEqual(parseRate('100/s'), { amount: 100, periodMs: 1000 });
    assert.deepEqual(parseRate('5 / 10m'), { amount: 5, periodMs: 600_000 });
    assert.equal(parseRate('100 per s'), null);
    assert.equal(formatDuration(60_000), '1m');
    assert.equal(formatDuration(1500), '1500ms');
  });
});
