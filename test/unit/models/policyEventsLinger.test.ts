/**
 * `events.linger` is at most 50 ms (an event's wait for companions before its batch goes): a longer
 * one was silently cut to 50 ms by the sink. It is refused with its path instead, as other
 * out-of-range values are, so `ratewarden check` and a reload say so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, formatPolicyErrors } from '../../../models/policy/index.js';
import { ErrorCodes } from '../../../models/errors.js';

const policy = (linger: string): string => `version: 1\nevents: { linger: ${linger} }\nrules:\n  - { id: a, key: ip, algorithm: fixed-window, limit: 1, window: 1s }\n`;

test('events.linger over 50 ms is a range error at its path; 0 to 50 ms are kept as written', () => {
  for (const linger of ['51ms', '1s', '10m']) {
    const r = parsePolicy(policy(linger));
    assert.equal(r.ok, false, `linger ${linger} must be refused`);
    const hit = r.ok ? undefined : r.errors.find((e) => e.path === 'events.linger');
    assert.ok(hit, r.ok ? '' : formatPolicyErrors(r.errors));
    assert.equal(hit.code, ErrorCodes.POLICY_RANGE);
    assert.match(hit.message, /at most 50ms/);
  }
  for (const [linger, ms] of [['0ms', 0], ['1ms', 1], ['50ms', 50], ['0.05s', 50]] as const) {
    const r = parsePolicy(policy(linger));
    assert.ok(r.ok, r.ok ? '' : formatPolicyErrors(r.errors));
    assert.equal(r.policy.events.lingerMs, ms);
  }
});
