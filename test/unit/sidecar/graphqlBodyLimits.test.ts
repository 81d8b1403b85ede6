/**
 * The bodies the sidecar reads to price GraphQL requests are bounded in time and in total: a body
 * trickled in (slowloris) is answered 408 once its deadline passes, and bodies beyond the
 * sidecar-wide budget are answered 503 — while bodies it does not read keep streaming to the
 * upstream as before. The deadline and the budget are made small in-process; every wait is
 * event-driven with generous bounds.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import type { IncomingMessage } from 'node:http';
import { startSidecar } from '../../../sidecar/server.js';
import { BodyBudget, bodyRefusedOnSight } from '../../../sidecar/graphqlBody.js';
import { silentLogger } from '../../../sidecar/log.js';
import { httpRequest, metricValue, startStubUpstream, waitFor } from '../../helpers/proc.js';

const GQL = `
version: 1
store: { kind: memory }
rules:
  - { id: gql, match: { path: /graphql }, key: [ip], algorithm: token-bucket, rate: 1/h, burst: 100000, cost: { graphql: { maxDepth: 5, maxCost: 50 } } }
`;
const MiB = 1024 * 1024;

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

/** A valid GraphQL JSON body of exactly `n` bytes. */
function gqlBody(n: number): Buffer {
  const head = '{"query":"{ a }","pad":"';
  return Buffer.from(head + 'x'.repeat(n - head.length - 2) + '"}');
}

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One raw connection: sends the head, then whatever the caller writes; resolves with the answer once the connection closes. */
function rawPost(port: number, head: string): { socket: Socket; answered: () => boolean; answer: Promise<RawAnswer> } {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.write(head);
  let data = '';
  let done = false;
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0 || done) return;
      const lines = data.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      const length = Number(headers['content-length'] ?? 0);
      if (data.length - end - 4 < length) return;
      done = true;
      socket.end(); // the client is done: the sidecar's lingering close ends the connection
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers, body: data.slice(end + 4, end + 4 + length) });
    });
    socket.on('close', () => {
      if (!done) reject(new Error(`connection closed without an answer: ${JSON.stringify(data.slice(0, 200))}`));
    });
  });
  answer.catch(() => undefined); // awaited by the test; a connection cut at cleanup is no unhandled rejection
  return { socket, answered: () => done, answer };
}

const postHead = (length: number | null): string =>
  `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${length === null ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`}\r\n\r\n`;

describe('GraphQL bodies read for pricing are bounded', () => {
  test('200 slow clients trickling bodies are each answered 408 (Connection: close) at the body deadline, not held for ever', async () => {
    const up = await startStubUpstream();
    const sc = await startSidecar({ policy: policy(GQL), upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: new MemoryEventBus(), logger: silentLogger(), graphqlBodyTimeoutMs: 1_500 });
    const N = 200;
    const clients: Array<ReturnType<typeof rawPost>> = [];
    // a byte every 250 ms: an idle timeout would never fire; only a deadline for the whole body does
    const trickle = setInterval(() => {
      for (const c of clients) if (!c.answered() && !c.socket.destroyed) c.socket.write(' ');
    }, 250);
    try {
      for (let i = 0; i < N; i++) {
        const c = rawPost(sc.port, postHead(MiB));
        c.socket.write(' '.repeat(4096));
        clients.push(c);
      }
      let bound: NodeJS.Timeout | undefined;
      const answers = await Promise.race([
        Promise.all(clients.map((c) => c.answer)),
        new Promise<never>((_, reject) => (bound = setTimeout(() => reject(new Error(`after 60 s, ${clients.filter((c) => c.answered()).length} of ${N} slow bodies answered`)), 60_000))),
      ]).finally(() => clearTimeout(bound));
      for (const a of answers) {
        assert.equal(a.status, 408);
        assert.equal(a.headers['connection'], 'close');
        assert.equal(a.headers['content-type'], 'application/problem+json');
        const problem = JSON.parse(a.body) as { status: number; error: string };
        assert.equal(problem.status, 408);
        assert.equal(problem.error, 'request_timeout');
      }
      assert.equal(up.arrived(), 0);
      const text = await sc.metrics.registry.metrics();
      assert.equal(metricValue(text, 'ratewarden_graphql_bodies_refused_total', { reason: 'timeout' }), N);
      await waitFor(async () => metricValue(await sc.metrics.registry.metrics(), 'ratewarden_inflight_requests') === 0, 'no request in flight', 20_000);
      assert.equal(metricValue(await sc.metrics.registry.metrics(), 'ratewarden_graphql_body_bytes_buffered'), 0);
      // a body that arrives in time is still read, priced and forwarded
      const ok = await httpRequest(sc.address + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: gqlBody(2000) });
      assert.equal(ok.status, 200);
      assert.equal(up.arrived(), 1);
    } finally {
      clearInterval(trickle);
      for (const c of clients) c.socket.destroy();
      await sc.close();
      await up.close();
    }
  });

  test('bodies beyond the sidecar-wide budget are answered 503 with Retry-After; those held complete; the budget comes back', async () => {
    const up = await startStubUpstream();
    const sc = await startSidecar({
      policy: policy(GQL),
      upstream: up.url,
      listen: { host: '127.0.0.1', port: 0 },
      admin: null,
      eventSink: new MemoryEventBus(),
      logger: silentLogger(),
      graphqlBodiesMaxBytes: 8 * MiB,
      graphqlBodyTimeoutMs: 120_000,
    });
    const N = 20;
    const clients: Array<ReturnType<typeof rawPost> & { chunked: boolean }> = [];
    const bodies: Buffer[] = [];
    try {
      for (let i = 0; i < N; i++) {
        // half declare their length, half are chunked (their length is known only as they arrive)
        const chunked = i % 2 === 1;
        const body = gqlBody(MiB);
        bodies.push(body);
        const c = rawPost(sc.port, postHead(chunked ? null : body.length));
        // all but the last byte, then hold
        const part = body.subarray(0, body.length - 1);
        c.socket.write(chunked ? Buffer.concat([Buffer.from(part.length.toString(16) + '\r\n'), part, Buffer.from('\r\n')]) : part);
        clients.push({ ...c, chunked });
      }
      const buffered = async (): Promise<number> => metricValue(await sc.metrics.registry.metrics(), 'ratewarden_graphql_body_bytes_buffered') ?? -1;
      // every body is either refused or held whole: the budget is never exceeded
      const refused = await waitFor(
        async () => {
          const n = clients.filter((c) => c.answered()).length;
          const held = await buffered();
          assert.ok(held <= 8 * MiB, `held ${held} bytes, over the 8 MiB budget`);
          return held >= 0 && n + held / MiB === N ? n : 0;
        },
        'every body refused or held whole',
        60_000,
      );
      assert.ok(refused >= N - 8, `${refused} refused`);
      for (const c of clients.filter((x) => x.answered())) {
        const a = await c.answer;
        assert.equal(a.status, 503);
        assert.equal(a.headers['retry-after'], '1');
        assert.equal(a.headers['connection'], 'close');
        assert.equal((JSON.parse(a.body) as { error: string }).error, 'body_buffer_full');
      }
      const text = await sc.metrics.registry.metrics();
      assert.equal(metricValue(text, 'ratewarden_graphql_bodies_refused_total', { reason: 'buffer_full' }), refused);
      assert.equal(up.arrived(), 0);

      // a body the sidecar does not read streams to the upstream unchanged, whatever the budget (20 MiB, paced past nothing)
      const big = Readable.from((function* () {
        for (let i = 0; i < 20; i++) yield Buffer.alloc(MiB, i);
      })());
      const upload = await httpRequest(sc.address + '/upload', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: big });
      assert.equal(upload.status, 200);
      assert.equal(upload.json<{ bodyBytes: number }>().bodyBytes, 20 * MiB);

      // the held ones finish their body: priced, forwarded whole, and their share of the budget given back
      const held = clients.filter((c) => !c.answered());
      for (const c of held) c.socket.write(c.chunked ? '1\r\n}\r\n0\r\n\r\n' : '}');
      for (const c of held) {
        const a = await c.answer;
        assert.equal(a.status, 200);
        assert.equal((JSON.parse(a.body) as { bodyBytes: number }).bodyBytes, MiB);
      }
      await waitFor(async () => (await buffered()) === 0, 'the budget given back', 20_000);
      const again = await httpRequest(sc.address + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: gqlBody(MiB) });
      assert.equal(again.status, 200);
    } finally {
      for (const c of clients) c.socket.destroy();
      await sc.close();
      await up.close();
    }
  });

  test('with the budget spent, a request without a body (a GraphQL GET) is still read; one with a body is refused on sight', () => {
    const budget = new BodyBudget(1000, 1000);
    assert.ok(budget.take(1000));
    const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;
    assert.equal(bodyRefusedOnSight(req({}), MiB, budget), null);
    assert.equal(bodyRefusedOnSight(req({ 'content-length': '0' }), MiB, budget), null);
    assert.equal(bodyRefusedOnSight(req({ 'content-length': '10' }), MiB, budget), 'buffer_full');
    assert.equal(bodyRefusedOnSight(req({ 'transfer-encoding': 'chunked' }), MiB, budget), 'buffer_full');
    assert.equal(bodyRefusedOnSight(req({ 'content-length': String(MiB + 1) }), MiB, budget), 'too_large');
    budget.give(1000);
    assert.equal(bodyRefusedOnSight(req({ 'transfer-encoding': 'chunked' }), MiB, budget), null);
  });

  test('a plain upload slower than the GraphQL body deadline is not cut: it streams to the upstream', async () => {
    const up = await startStubUpstream();
    const sc = await startSidecar({ policy: policy(GQL), upstream: up.url, listen: { host: '127.0.0.1', port: 0 }, admin: null, eventSink: new MemoryEventBus(), logger: silentLogger(), graphqlBodyTimeoutMs: 200 });
    try {
      let sent = 0;
      const slow = new Readable({
        read() {
          if (sent === 6) return void this.push(null);
          sent++;
          setTimeout(() => this.push(Buffer.alloc(1000, 0x61)), 150);
        },
      });
      const r = await httpRequest(sc.address + '/upload', { method: 'POST', body: slow });
      assert.equal(r.status, 200);
      assert.equal(r.json<{ bodyBytes: number }>().bodyBytes, 6000);
      assert.equal(metricValue(await sc.metrics.registry.metrics(), 'ratewarden_graphql_bodies_refused_total', { reason: 'timeout' }), null);
    } finally {
      await sc.close();
      await up.close();
    }
  });
});
