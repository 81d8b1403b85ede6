/**
 * A hybrid client key names a set of identities: `ip:…|apiKey:…` (a rule keyed [ip, apiKey], or an
 * operator writing it that way) is the same client as `apiKey:…|ip:…`, and a block or override on
 * it must apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlState } from '../../../sidecar/control/controlState.js';

const NOW = 1_767_225_600_000;
const KEY = 'apiKey:9f86d081884c7d65';

test('a block on a hybrid key in any part order applies to a request with those identities', () => {
  const s = new ControlState('svc');
  s.apply({ v: 1, seq: 1, kind: 'block', field: `ip:10.1.2.3|${KEY}`, value: { until: NOW + 1000, reason: 'ip first', seq: 1 } });
  assert.equal(s.block([KEY, 'ip:10.1.2.3'], NOW)?.reason, 'ip first');
  assert.equal(s.block([KEY, 'user:alice', 'ip:10.1.2.3'], NOW)?.reason, 'ip first');
  assert.equal(s.block([KEY, 'ip:10.9.9.9'], NOW), null);
  s.apply({ v: 1, seq: 2, kind: 'block', field: `ip:2001:db8:1:2::/64|user:bob|${KEY}`, value: { until: NOW + 1000, reason: 'three, any order', seq: 2 } });
  assert.equal(s.block([KEY, 'user:bob', 'ip:2001:db8:1:2::/64'], NOW)?.reason, 'three, any order');
});

test('an override on a hybrid key in another part order applies, ahead of the single-identity ones', () => {
  const s = new ControlState('svc');
  s.apply({ v: 1, seq: 1, kind: 'override', field: `r|${KEY}`, value: { limit: 50, until: NOW + 1000, reason: 'key', seq: 1 } });
  s.apply({ v: 1, seq: 2, kind: 'override', field: `r|user:alice|${KEY}`, value: { limit: 2, until: NOW + 1000, reason: 'pair', seq: 2 } });
  assert.equal(s.override('r', [KEY, 'user:alice', 'ip:10.1.2.3'], NOW)?.limit, 2);
  assert.equal(s.override('r', [KEY, 'ip:10.1.2.3'], NOW)?.limit, 50);
});
