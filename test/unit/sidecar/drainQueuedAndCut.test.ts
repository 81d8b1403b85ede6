/**
 * What a drain (close(), what SIGTERM runs) does with requests that cannot finish in its window:
 *
 * - a request held by a leaky bucket's queue (`mode: queue`) whose turn comes after the window is
 *   answered 503 shutting_down (Connection: close) at once, never forwarded; it used to wait out the
 *   whole window and then have its connection cut with no answer at all;
 * - one whose turn comes within the window is still forwarded;
 * - requests cut at the end of the window have their events published before the events are
 *   flushed (and their leases released before the store closes): those events used to come after
 *   the flush — with Kafka, after the sink had closed, so they were dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { EventSink } from '../../../models/eventBus.js';
import type { CallEvent } from '../../../models/events.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { silentLogger } from '../../../sidecar/log.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { httpRequest, startStubUpstream, waitFor, type StubUpstream } from '../../helpers/proc.js';

/** An event sink that records, in order, each event published and each flush. */
class RecordingSink implements EventSink {
  readonly log: string[] = [];
  publish(e: CallEvent): void {
    this.log.push(`${e.route} ${e.status}`);
  }
  async flush(): Promise<void> {
    this.log.push('flush');
  }
  async close(): Promise<void> {}
}

async function start(up: StubUpstream, sink: RecordingSink, drainSeconds: number, rate: string): Promise<RunningSidecar> {
  const parsed = parsePolicy(`version: 1
store: { kind: memory }
upstream: { timeout: 60s }
rules:
  - { id: q, match: { path: "/q/**" }, key: [global], algorithm: leaky-bucket, rate: ${rate}, burst: 1, mode: queue, maxDelay: 30s }
`);
  assert.ok(parsed.ok);
  return startSidecar({ policy: parsed.policy, upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: sink, logger: silentLogger(), drainSeconds });
}

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

test('a queued request whose turn is after the drain window is answered 503 shutting_down at once; one due within it is forwarded', { timeout: 60_000 }, async () => {
  const up = await startStubUpstream();
  const sink = new RecordingSink();
  // one request per 20 s: the second waits ~20 s, far past a 10 s drain
  const sc = await start(up, sink, 10, '1/20s');
  try {
    assert.equal((await httpRequest(sc.address + '/q/first')).status, 200);
    const queued = rawRequest(sc.port, '/q/late');
    await waitFor(() => (sc.metrics.decisionSeconds as unknown as { count: number }).count >= 2, 'the second request decided (queued)');
    const started = performance.now();
    await sc.close();
    const closeMs = performance.now() - started;
    const text = await queued.answer;
    assert.match(text, /^HTTP\/1\.1 503 /);
    assert.match(text.toLowerCase(), /\r\nconnection: close\r\n/);
    assert.match(text, /shutting_down/);
    assert.ok(closeMs < 5_000, `the drain did not wait out its window for it (${Math.round(closeMs)} ms)`);
    assert.deepEqual(
      up.requests.map((r) => r.url),
      ['/q/first'],
    );
    assert.deepEqual(sink.log, ['/q/first 200', '/q/late 503', 'flush']);
  } finally {
    await sc.close();
    await up.close();
  }

  // within the window: forwarded as usual
  const up2 = await startStubUpstream();
  const sink2 = new RecordingSink();
  const sc2 = await start(up2, sink2, 20, '1/2s');
  try {
    assert.equal((await httpRequest(sc2.address + '/q/first')).status, 200);
    const queued = rawRequest(sc2.port, '/q/soon');
    await waitFor(() => (sc2.metrics.decisionSeconds as unknown as { count: number }).count >= 2, 'the second request decided (queued)');
    await sc2.close();
    assert.match(await queued.answer, /^HTTP\/1\.1 200 /);
    assert.deepEqual(sink2.log, ['/q/first 200', '/q/soon 200', 'flush']);
  } finally {
    await sc2.close();
    await up2.close();
  }
});

test('requests cut at the end of the drain window emit their events before the events are flushed', { timeout: 60_000 }, async () => {
  const up = await startStubUpstream();
  const sink = new RecordingSink();
  const sc = await start(up, sink, 0.5, '1/20s');
  const clients = [rawRequest(sc.port, '/hang'), rawRequest(sc.port, '/hang')];
  try {
    await waitFor(() => up.arrived() >= 2, 'both requests at the upstream');
    await sc.close();
    assert.deepEqual(sink.log, ['/hang 499', '/hang 499', 'flush']);
  } finally {
    for (const c of clients) c.socket.destroy();
    await sc.close();
    await up.close();
  }
});
