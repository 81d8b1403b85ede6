/**
 * Draining (close(), what SIGTERM runs): a request in flight on a keep-alive connection completes,
 * and its answer says `Connection: close` and ends the connection. It used to say
 * `Connection: keep-alive` while the drain closed the connection right after the last answer, so a
 * client reusing it (as every HTTP agent does) had its next request cut mid-flight instead of
 * opening a new connection to a sidecar still serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { silentLogger } from '../../../sidecar/log.js';
import { startSidecar } from '../../../sidecar/server.js';
import { startStubUpstream, waitFor } from '../../helpers/proc.js';

test('an answer in flight when the drain starts carries Connection: close and ends its connection', { timeout: 30_000 }, async () => {
  const up = await startStubUpstream();
  const parsed = parsePolicy(`version: 1
store: { kind: memory }
rules:
  - { id: r, key: [ip], algorithm: fixed-window, limit: 100, window: 60s }
`);
  assert.ok(parsed.ok);
  const bus = new MemoryEventBus();
  const sc = await startSidecar({ policy: parsed.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: bus, logger: silentLogger(), drainSeconds: 20 });
  try {
    const socket = connect(sc.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // a keep-alive request (HTTP/1.1 default) the upstream answers after a while
    socket.write('GET /delay/1500 HTTP/1.1\r\nHost: app\r\n\r\n');
    await waitFor(() => up.arrived() >= 1, 'the request reached the upstream');

    await sc.close(); // resolves once the request in flight is done
    await ended;
    const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
    assert.match(head, /^http\/1\.1 200 /);
    assert.match(head, /\r\nconnection: close(\r\n|$)/, head);
    assert.doesNotMatch(head, /keep-alive/, head);
    assert.equal(bus.published, 1);
  } finally {
    await sc.close();
    await up.close();
  }
});
