/**
 * A request with two Host lines is malformed (RFC 9112 §3.2: the server MUST answer 400). undici
 * refuses to send it ("duplicate host header"), and the sidecar used to report that as the
 * upstream's failure: a 502 "upstream unreachable", counted in upstream_errors_total, refunded, and an
 * event without `selfAnswered` — so any client could manufacture an upstream outage for the
 * analyzer's load watcher, as often as it liked, without ever spending its budget.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { metricValue, startStubUpstream } from '../../helpers/proc.js';

function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => (got += d.toString('latin1')));
    c.on('end', () => resolve(got));
    c.on('close', () => resolve(got));
    c.on('error', reject);
    c.write(request);
  });
}

test('two Host lines: 400 from the sidecar, not a 502 blamed on the upstream', async () => {
  const up = await startStubUpstream();
  const p = parsePolicy(`
version: 1
store: { kind: memory }
rules:
  - { id: g, key: [ip], algorithm: fixed-window, limit: 3, window: 1h }
`);
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  const bus = new MemoryEventBus();
  const sc = await startSidecar({ policy: p.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), eventSink: bus, drainSeconds: 1 });
  try {
    const answer = await raw(sc.port, 'GET /x HTTP/1.1\r\nHost: public.example\r\nHost: internal.example\r\nConnection: close\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /, answer.split('\r\n')[0]);
    assert.match(answer, /application\/problem\+json/);
    assert.equal(up.arrived(), 0, 'never forwarded');
    const metrics = await sc.metrics.registry.metrics();
    assert.ok(!metrics.split('\n').some((l) => l.startsWith('ratewarden_upstream_errors_total{') && !l.endsWith(' 0')), 'not an upstream error');
    const ev = bus.pending().at(-1)!;
    assert.equal(ev.status, 400);
    assert.equal(ev.selfAnswered, true, 'the sidecar answered it itself: not evidence about the upstream');
    // and it did not cost the budget (the upstream was never asked): 3 good requests still pass
    for (let i = 0; i < 3; i++) assert.match(await raw(sc.port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
    assert.equal(metricValue(metrics, 'ratewarden_upstream_errors_total', { kind: 'connect' }) ?? 0, 0);
  } finally {
    await sc.close();
    await up.close();
  }
});
