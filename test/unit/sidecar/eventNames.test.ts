/**
 * Every event carries the sidecar's pod and service names, and the analyzer's decoder refuses names
 * over 253 characters: a sidecar started with a longer RW_SERVICE would have every event skipped as
 * bad. It refuses to start instead (exit 2 from the CLI), naming the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSidecarArgs } from '../../../sidecar/config.js';
import { RatewardenError } from '../../../models/errors.js';
import { decodeCallEvent } from '../../../models/events.js';
import { callEvent } from '../../../sidecar/events/callEvent.js';

const base = ['--config', 'p.yaml', '--upstream', 'http://127.0.0.1:3000'];

test('a pod or service name the analyzer would refuse in every event is refused at start', () => {
  const long = 's'.repeat(254);
  for (const [args, env, flag] of [
    [base, { RW_SERVICE: long }, /--service \(RW_SERVICE\) must be 1 to 253 characters \(got 254\)/],
    [[...base, '--service', ''], {}, /--service/],
    [base, { RW_POD: long }, /--pod \(RW_POD\)/],
  ] as const) {
    assert.throws(() => parseSidecarArgs(args, env), (err: unknown) => err instanceof RatewardenError && flag.test(err.message));
  }
  // the longest accepted name makes events the analyzer decodes
  const ok = parseSidecarArgs(base, { RW_SERVICE: 's'.repeat(253), RW_POD: 'p'.repeat(253) });
  const e = callEvent({ ts: Date.now(), pod: ok.pod, service: ok.service, method: 'GET', path: '/x', status: 200, latencyMs: 1, bytesIn: 0, bytesOut: 0, ip: '10.0.0.1', client: 'ip:10.0.0.1', user: null, uaHash: null, decision: 'allowed', rule: null, cost: 1, tier: 'free' });
  assert.ok(decodeCallEvent(JSON.stringify(e)).ok);
});
