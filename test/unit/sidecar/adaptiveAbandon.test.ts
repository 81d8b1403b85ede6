/**
 * A client that leaves while its request waits for an adaptive-concurrency slot: the request is
 * over (499), and when a slot frees it is neither decided (no budget spent) nor forwarded, nor
 * answered 503 as shed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startOneSlotSidecar } from '../../helpers/adaptiveSidecar.js';
import { httpRequest, waitFor } from '../../helpers/proc.js';

test('a client gone while queued for a slot is a 499 that spends no budget and reaches no upstream', async () => {
  const one = await startOneSlotSidecar({ upstreamTimeout: '2s', limit: 3, drainSeconds: 1, delayOf: (p) => (p === '/warm' ? 120 : p === '/slow' ? 80 : 0) });
  const { sc, bus, arrived } = one;
  try {
    // one slow answer first: the queue's wait is half the lowest RTT seen (≤ 50 ms; 10 ms before any)
    assert.equal((await httpRequest(sc.address + '/warm')).status, 200);
    const slow = httpRequest(sc.address + '/slow'); // holds the only slot for 80 ms
    await waitFor(() => arrived.includes('/slow'), '/slow at the upstream', 2_000);
    const gone = connect(sc.port, '127.0.0.1');
    await new Promise<void>((resolve) => gone.on('connect', resolve));
    gone.write('GET /gone HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((r) => setTimeout(r, 5)); // queued behind /slow (it may wait up to 50 ms)
    gone.resetAndDestroy(); // an abort: the connection is reset (a half-close would still await its answer)
    assert.equal((await slow).status, 200);
    await waitFor(() => bus.pending().some((e) => e.route === '/gone'), 'the event of /gone', 2_000);
    assert.equal(bus.pending().find((e) => e.route === '/gone')!.status, 499);
    await new Promise((r) => setTimeout(r, 100)); // past any wait the queue allows
    assert.ok(!arrived.includes('/gone'), 'the abandoned request never reached the upstream');
    // the limit is 3: /warm and /slow took one each; the abandoned request took none
    assert.equal((await httpRequest(sc.address + '/after')).status, 200);
    assert.equal((await httpRequest(sc.address + '/after')).status, 429);
  } finally {
    await one.close();
  }
});

test('a client gone while queued leaves the queue at once: not counted as shed, not left in adaptive_queued', async () => {
  // /slow holds the only slot far longer than any wait the queue allows (≤ 50 ms)
  const one = await startOneSlotSidecar({ upstreamTimeout: '5s', limit: 100, drainSeconds: 1, delayOf: (p) => (p === '/warm' ? 120 : p === '/slow' ? 600 : 0) });
  const { sc, bus, arrived, metric } = one;
  try {
    assert.equal((await httpRequest(sc.address + '/warm')).status, 200); // the wait bound becomes 50 ms
    const slow = httpRequest(sc.address + '/slow');
    await waitFor(() => arrived.includes('/slow'), '/slow at the upstream', 2_000);
    const gone = connect(sc.port, '127.0.0.1');
    await new Promise<void>((resolve) => gone.on('connect', resolve));
    gone.write('GET /gone HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((r) => setTimeout(r, 5)); // queued behind /slow
    gone.resetAndDestroy();
    await waitFor(() => bus.pending().some((e) => e.route === '/gone'), 'the event of /gone', 2_000);
    assert.equal(bus.pending().find((e) => e.route === '/gone')!.status, 499);
    assert.equal(await metric('ratewarden_adaptive_queued'), 0, 'the abandoned request no longer waits');
    await new Promise((r) => setTimeout(r, 150)); // well past its wait bound, /slow still holds the slot
    assert.equal(await metric('ratewarden_shed_total', { tier: 'free' }), 0, 'a 499 is not a shed');
    assert.equal(await metric('ratewarden_requests_total', { rule: '@adaptive-concurrency', decision: 'limited' }), 0);
    assert.equal((await slow).status, 200);
    assert.ok(!arrived.includes('/gone'));
    assert.equal(await metric('ratewarden_adaptive_inflight'), 0);
  } finally {
    await one.close();
  }
});
