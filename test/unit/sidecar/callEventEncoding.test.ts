/**
 * The sidecar's event encoder writes exactly the JSON text of the contract's encoder
 * (models/events.ts encodeCallEvent) for every event callEvent builds, odd strings included.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DECISIONS, decodeCallEvent, encodeCallEvent } from '../../../models/events.js';
import { callEvent, encodeCallEventFast } from '../../../sidecar/events/callEvent.js';

const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '"', '\\', '\u0000', '\u2028', '\ud800', 'ip:10.0.0.1', '/a "b"/c\\d'));
const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY));

describe('event encoding', () => {
  it('is byte for byte the contract encoder on random events', () => {
    fc.assert(
      fc.property(
        fc.record({
          ts: num,
          pod: anyString,
          service: anyString,
          method: anyString,
          path: anyString,
          status: num,
          latencyMs: num,
          bytesIn: num,
          bytesOut: num,
          ip: anyString,
          client: anyString,
          user: fc.option(anyString, { nil: null }),
          uaHash: fc.option(anyString, { nil: null }),
          decision: fc.constantFrom(...DECISIONS),
          rule: fc.option(anyString, { nil: null }),
          cost: num,
          tier: anyString,
          selfAnswered: fc.boolean(),
        }),
        (input) => {
          const event = callEvent(input);
          assert.equal(encodeCallEventFast(event), encodeCallEvent(event));
        },
      ),
      { numRuns: 2000, seed: 42 },
    );
  });

  it('round-trips through the contract decoder', () => {
    const event = callEvent({ ts: 1_700_000_000_000, pod: 'p', service: 's', method: 'GET', path: '/x', status: 200, latencyMs: 1.25, bytesIn: 0, bytesOut: 17, ip: '10.0.0.1', client: 'ip:10.0.0.1', user: null, uaHash: null, decision: 'allowed', rule: 'r', cost: 1, tier: 'free' });
    const decoded = decodeCallEvent(encodeCallEventFast(event));
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value, event);
  });

  it('writes selfAnswered only when true, last, and leaves every other event as it was', () => {
    const base = { ts: 1_700_000_000_000, pod: 'p', service: 's', method: 'GET', path: '/x', status: 503, latencyMs: 0.25, bytesIn: 0, bytesOut: 17, ip: '10.0.0.1', client: 'ip:10.0.0.1', user: null, uaHash: null, decision: 'allowed', rule: null, cost: 0, tier: 'free' } as const;
    const plain = encodeCallEventFast(callEvent(base));
    assert.equal(plain, encodeCallEventFast(callEvent({ ...base, selfAnswered: false })), 'false is left out');
    assert.doesNotMatch(plain, /selfAnswered/);
    assert.equal('selfAnswered' in callEvent({ ...base, selfAnswered: false }), false);
    const self = callEvent({ ...base, selfAnswered: true });
    assert.equal(self.selfAnswered, true);
    const text = encodeCallEventFast(self);
    assert.equal(text, encodeCallEvent(self));
    assert.equal(text, plain.slice(0, -1) + ',"selfAnswered":true}');
    const decoded = decodeCallEvent(text);
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value, self);
    // an event built elsewhere, without a tier, still encodes like the contract's encoder
    const { tier: _tier, ...noTier } = self;
    assert.equal(encodeCallEventFast(noTier), encodeCallEvent(noTier));
    assert.equal(encodeCallEventFast({ ...noTier, selfAnswered: false }), encodeCallEvent({ ...noTier, selfAnswered: false }));
  });
});
