/**
 * `events.bufferSize` is bounded (10 000 000 events): `ratewarden check` passed
 * `bufferSize: 10000000000`, and the sidecar then crashed at start with `RangeError: Invalid array
 * length` from the ring buffer, a stack trace instead of a policy error. It is refused with its path
 * now, as other out-of-range values are; the sink is made with the bound itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, formatPolicyErrors } from '../../../models/policy/index.js';
import { POLICY_BOUNDS } from '../../../models/policy/schema.js';
import { ErrorCodes } from '../../../models/errors.js';
import { KafkaEventSink } from '../../../sidecar/events/kafkaSink.js';

const policy = (bufferSize: number): string => `version: 1\nevents: { bufferSize: ${bufferSize} }\nrules:\n  - { id: a, key: ip, algorithm: fixed-window, limit: 1, window: 1s }\n`;

test('events.bufferSize over 10 000 000 is a range error at its path; up to the bound it is kept, and a sink of that size can be made', () => {
  for (const size of [10_000_001, 4_294_967_296, 1e10]) {
    const r = parsePolicy(policy(size));
    assert.equal(r.ok, false, `bufferSize ${size} must be refused`);
    const hit = r.ok ? undefined : r.errors.find((e) => e.path === 'events.bufferSize');
    assert.ok(hit, r.ok ? '' : formatPolicyErrors(r.errors));
    assert.equal(hit.code, ErrorCodes.POLICY_RANGE);
  }
  const r = parsePolicy(policy(POLICY_BOUNDS.maxEventsBufferSize));
  assert.ok(r.ok, r.ok ? '' : formatPolicyErrors(r.errors));
  assert.equal(r.policy.events.bufferSize, 10_000_000);
  const sink = new KafkaEventSink({ producer: { connect: async () => {}, send: async () => {}, disconnect: async () => {} }, bufferSize: r.policy.events.bufferSize, lingerMs: 20, batchSize: 1000 });
  assert.equal(sink.buffered, 0);
});
