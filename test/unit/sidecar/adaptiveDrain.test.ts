/**
 * Requests still waiting for an adaptive-concurrency slot when the drain window ends are cut at
 * shutdown like the rest: they are answered 503 `shutting_down` (Connection: close), as a request
 * held by a leaky bucket's queue is, and are not sheds — they used to get the overload 503
 * (`temporary-reduced-capacity`) and be counted in `ratewarden_shed_total`, as if the upstream were
 * at its limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { AdaptiveGate } from '../../../sidecar/adaptive/index.js';
import { startOneSlotSidecar } from '../../helpers/adaptiveSidecar.js';
import { httpRequest, waitFor } from '../../helpers/proc.js';

/** A raw client connection with one request written; `answer` resolves with all it received once closed. */
function rawRequest(port: number, path: string): { socket: Socket; answer: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const answer = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: app\r\n\r\n`);
  return { socket, answer };
}

test('requests waiting for an adaptive slot when the drain ends are answered 503 shutting_down, not shed', { timeout: 60_000 }, async () => {
  // /slow holds the only slot until the sidecar cuts it; a drain window of 0: whoever waits for a
  // slot when close() starts still waits when the window ends
  const one = await startOneSlotSidecar({ upstreamTimeout: '30s', limit: 100, drainSeconds: 0, delayOf: (p) => (p === '/slow' ? null : 120) });
  const { sc, bus, arrived, metric } = one;
  // close() starts in the very tick the third waiter is queued: none of them can have timed out by then
  const admit = AdaptiveGate.prototype.admit;
  let closing: Promise<void> | null = null;
  AdaptiveGate.prototype.admit = function (this: AdaptiveGate, ...args: Parameters<typeof admit>) {
    const ticket = admit.apply(this, args);
    if (closing === null && this.limiter.queued === 3) closing = sc.close();
    return ticket;
  };
  const waiters: Array<{ socket: Socket; answer: Promise<string> }> = [];
  try {
    assert.equal((await httpRequest(sc.address + '/warm')).status, 200); // the wait bound becomes 50 ms
    const slow = rawRequest(sc.port, '/slow');
    await waitFor(() => arrived.includes('/slow'), '/slow at the upstream', 5_000);
    for (const path of ['/w1', '/w2', '/w3']) waiters.push(rawRequest(sc.port, path));
    await waitFor(() => closing !== null, 'three requests waiting for the slot', 5_000);
    await closing;
    for (const w of waiters) {
      const text = await w.answer;
      assert.match(text, /^HTTP\/1\.1 503 /);
      assert.match(text, /shutting_down/);
      assert.doesNotMatch(text, /temporary-reduced-capacity|overloaded/);
      assert.match(text.toLowerCase(), /\r\nconnection: close\r\n/);
    }
    await slow.answer;
    assert.equal(await metric('ratewarden_shed_total', { tier: 'free' }), 0, 'a request cut by the shutdown is no shed');
    assert.equal(await metric('ratewarden_requests_total', { rule: '@adaptive-concurrency', decision: 'limited' }), 0);
    const events = bus.pending().filter((e) => /^\/w\d$/.test(e.route));
    assert.deepEqual(
      events.map((e) => [e.route, e.status, e.rule, e.decision, e.selfAnswered]).sort(),
      [
        ['/w1', 503, null, 'allowed', true],
        ['/w2', 503, null, 'allowed', true],
        ['/w3', 503, null, 'allowed', true],
      ],
    );
    assert.deepEqual(arrived, ['/warm', '/slow'], 'no waiter was forwarded');
  } finally {
    AdaptiveGate.prototype.admit = admit;
    for (const w of waiters) w.socket.destroy();
    await one.close();
  }
});
