/**
 * An upstream that answers something that is not HTTP (a TLS port, another protocol, a broken
 * server) was counted as `upstream_errors_total{kind="connect"}`: an operator looked for a network
 * or a port problem. It is now `kind="protocol"`, still a 502 that is not charged to the client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { httpRequest, metricValue } from '../../helpers/proc.js';

test('an upstream answering what is not HTTP is a 502 counted as kind="protocol", and not charged', async () => {
  const sockets = new Set<Socket>();
  const garbage = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.once('data', () => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
  });
  await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
  const port = (garbage.address() as { port: number }).port;
  const p = parsePolicy('version: 1\nstore: { kind: memory }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 2, window: 1h }\n');
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  const sc = await startSidecar({ policy: p.policy, upstream: `http://127.0.0.1:${port}`, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), eventSink: new MemoryEventBus(), drainSeconds: 1 });
  try {
    // more requests than the limit: none is charged, so none is 429
    for (let i = 0; i < 4; i++) assert.equal((await httpRequest(`${sc.address}/x`)).status, 502);
    const metrics = await sc.metrics.registry.metrics();
    assert.equal(metricValue(metrics, 'ratewarden_upstream_errors_total', { kind: 'protocol' }), 4);
    assert.equal(metricValue(metrics, 'ratewarden_upstream_errors_total', { kind: 'connect' }) ?? 0, 0);
  } finally {
    await sc.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => garbage.close(r));
  }
});
