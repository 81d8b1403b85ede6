/**
 * `--shutdown-delay` / RW_SHUTDOWN_DELAY: seconds the sidecar keeps serving (not ready) after SIGTERM
 * before it drains; 0 by default (the Helm chart sets 5), at most 300.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSidecarArgs } from '../../../sidecar/config.js';
import { RatewardenError } from '../../../models/errors.js';

const base = ['--config', 'p.yaml', '--upstream', 'http://127.0.0.1:3000'];

test('the shutdown delay defaults to 0, comes from the flag over the environment, and is bounded', () => {
  assert.equal(parseSidecarArgs(base, {}).shutdownDelaySeconds, 0);
  assert.equal(parseSidecarArgs(base, { RW_SHUTDOWN_DELAY: '5' }).shutdownDelaySeconds, 5);
  assert.equal(parseSidecarArgs([...base, '--shutdown-delay', '2.5'], { RW_SHUTDOWN_DELAY: '5' }).shutdownDelaySeconds, 2.5);
  for (const bad of ['-1', '301', 'soon']) {
    assert.throws(() => parseSidecarArgs(base, { RW_SHUTDOWN_DELAY: bad }), (err: unknown) => err instanceof RatewardenError && /shutdown-delay/.test(err.message), bad);
  }
});

test('the drain time is at most a day (a timer: Node fires one over 24.8 days after 1 ms, which skipped the drain)', () => {
  assert.equal(parseSidecarArgs([...base, '--drain-seconds', '86400'], {}).drainSeconds, 86400);
  for (const bad of ['86401', '3000000', '-1', 'soon']) {
    assert.throws(() => parseSidecarArgs(base, { RW_DRAIN_SECONDS: bad }), (err: unknown) => err instanceof RatewardenError && /drain-seconds/.test(err.message), bad);
  }
});
