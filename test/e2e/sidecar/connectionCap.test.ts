/**
 * The proxy listener's open connections are capped (RW_MAX_CONNECTIONS, default 10 000): without a
 * cap a client could open connections without bound, each holding memory and a descriptor. Past the
 * cap a new connection is closed at once, unread, and counted in `connections_refused_total`; the
 * connections held keep working, and one that closes frees its place. A real `ratewarden sidecar`
 * process, real sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { childEnv } from '../../helpers/infra.js';
import { metricValue, runRatewarden, startSidecarProcess, startStubUpstream, tempDir, waitFor } from '../../helpers/proc.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MAX_CONNECTIONS, parseSidecarArgs } from '../../../sidecar/config.js';

const POLICY = 'version: 1\nstore: { kind: memory }\nrules:\n  - { id: g, key: [ip], algorithm: fixed-window, limit: 100000, window: 1h }\n';
const CAP = 20;

/** A keep-alive connection that has had one answer (so the sidecar holds it), or the reason it has not. */
function openAndAsk(port: number, path: string): Promise<{ socket: Socket; outcome: 'served' | 'closed' }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve({ socket, outcome: 'served' });
      }
    };
    socket.on('data', onData);
    socket.once('close', () => resolve({ socket, outcome: 'closed' }));
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: cap.test\r\n\r\n`));
  });
}

async function scrape(adminUrl: string): Promise<string> {
  const r = await fetch(`${adminUrl}/metrics`);
  return r.text();
}

test('past RW_MAX_CONNECTIONS a new connection is closed unread and counted; held ones keep working; a closed one frees its place', { timeout: 120_000 }, async () => {
  const up = await startStubUpstream();
  const sc = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: childEnv({ RW_MAX_CONNECTIONS: String(CAP) }) });
  const port = Number(new URL(sc.url).port);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < CAP; i++) {
      const r = await openAndAsk(port, `/held/${i}`);
      sockets.push(r.socket);
      assert.equal(r.outcome, 'served', `connection ${i} of ${CAP} is served`);
    }
    const arrivedBefore = up.arrived();
    const extra = 30;
    for (let i = 0; i < extra; i++) {
      const r = await openAndAsk(port, `/over/${i}`);
      sockets.push(r.socket);
      assert.equal(r.outcome, 'closed', `connection ${CAP + i + 1} is closed at once, not served`);
    }
    assert.equal(up.arrived(), arrivedBefore, 'nothing from a refused connection reached the upstream');
    await waitFor(async () => metricValue(await scrape(sc.adminUrl), 'ratewarden_connections_refused_total') === extra, `connections_refused_total = ${extra}`, 30_000, 100);
    // the connections held are still served
    sockets[0]!.removeAllListeners('data');
    const again = await new Promise<string>((resolve) => {
      let got = '';
      sockets[0]!.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('\r\n\r\n')) resolve(got);
      });
      sockets[0]!.write('GET /held/again HTTP/1.1\r\nHost: cap.test\r\n\r\n');
    });
    assert.match(again, /^HTTP\/1\.1 200 /);
    // one held connection closes: its place is free again
    await new Promise<void>((resolve) => {
      sockets[1]!.once('close', () => resolve());
      sockets[1]!.end();
    });
    const freed = await waitFor(
      async () => {
        const r = await openAndAsk(port, '/freed');
        sockets.push(r.socket);
        return r.outcome === 'served' ? r : null;
      },
      'a new connection to be served once one held closed',
      30_000,
      100,
    );
    assert.equal(freed.outcome, 'served');
  } finally {
    for (const s of sockets) s.destroy();
    await sc.stop();
    await up.close();
  }
});

test('RW_MAX_CONNECTIONS: default 10 000; anything but a whole number from 1 to 1 000 000 is a start-up error (exit 2)', async () => {
  const args = ['--config', 'p.yaml', '--upstream', 'http://127.0.0.1:1'];
  assert.equal(DEFAULT_MAX_CONNECTIONS, 10_000);
  assert.equal(parseSidecarArgs(args, {}).maxConnections, 10_000);
  assert.equal(parseSidecarArgs(args, { RW_MAX_CONNECTIONS: '' }).maxConnections, 10_000);
  assert.equal(parseSidecarArgs(args, { RW_MAX_CONNECTIONS: '50000' }).maxConnections, 50_000);
  // the flag wins over the variable; a blank flag is no number
  assert.equal(parseSidecarArgs([...args, '--max-connections', '77'], { RW_MAX_CONNECTIONS: '50000' }).maxConnections, 77);
  assert.throws(() => parseSidecarArgs([...args, '--max-connections', ''], {}), /--max-connections \(RW_MAX_CONNECTIONS\) must be a whole number/);
  for (const bad of ['0', '-1', '1.5', 'abc', '1e3', '1000001']) {
    assert.throws(() => parseSidecarArgs(args, { RW_MAX_CONNECTIONS: bad }), /RW_MAX_CONNECTIONS\) must be a whole number/, bad);
  }
  const file = join(tempDir('rw-cap-'), 'policy.yaml');
  writeFileSync(file, POLICY);
  const r = await runRatewarden(['sidecar', '--config', file, '--upstream', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: childEnv({ RW_MAX_CONNECTIONS: 'lots' }) });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /RW_MAX_CONNECTIONS\) must be a whole number/);
});
