/**
 * Every event the sidecar builds must be (a) free of secrets and (b) accepted by the analyzer's
 * decoder (models/events.ts): an event the decoder refuses is lost for detection, counted only as
 * a "bad event" on the analyzer. Covers the answers the sidecar makes before it identified the
 * caller (non-origin-form targets, draining), whose route comes from the raw request target.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { decodeCallEvent } from '../../../models/events.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { callEvent, encodeCallEventFast, type CallEventInput } from '../../../sidecar/events/callEvent.js';
import { rawStatusLine, startStubUpstream } from '../../helpers/proc.js';

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

const POLICY = `
version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: memory }
rules:
  - { id: per-key, match: { path: "/api/**" }, key: [apiKey], algorithm: fixed-window, limit: 10, window: 1h }
`;

async function withSidecar(fn: (sc: RunningSidecar, bus: MemoryEventBus) => Promise<void>): Promise<void> {
  const up = await startStubUpstream();
  const bus = new MemoryEventBus();
  const sc = await startSidecar({ listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), service: 'shop', drainSeconds: 1, policy: policy(POLICY), upstream: up.url, eventSink: bus });
  try {
    await fn(sc, bus);
  } finally {
    await sc.close();
    await up.close();
  }
}

function input(over: Partial<CallEventInput>): CallEventInput {
  return {
    ts: Date.now(), pod: 'p', service: 's', method: 'GET', path: '/x', status: 200, latencyMs: 1, bytesIn: 0, bytesOut: 0,
    ip: '10.0.0.1', client: 'ip:10.0.0.1', user: null, uaHash: null, decision: 'allowed', rule: null, cost: 0, tier: 'free', ...over,
  };
}

describe('the events of answers made before the caller was identified', () => {
  test('credentials in an absolute-form request target never reach the event', async () => {
    await withSidecar(async (sc, bus) => {
      assert.equal(await rawStatusLine(sc.port, 'GET http://alice:s3cretpass@evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
      const e = bus.pending().find((x) => x.status === 400);
      assert.ok(e, 'an event for the 400');
      const wire = encodeCallEventFast(e);
      assert.doesNotMatch(wire, /s3cretpass/, 'the password is not in the Kafka value');
      assert.doesNotMatch(wire, /alice/, 'the user name is not in the Kafka value');
      assert.ok(decodeCallEvent(wire).ok);
    });
  });

  test('a fragment of the request target (which can carry a token) never reaches the event', () => {
    const e = callEvent(input({ path: '/cb#access_token=tok3n' }));
    assert.doesNotMatch(encodeCallEventFast(e), /tok3n/);
    assert.equal(e.route, '/cb');
  });
});

describe('the numbers of an event stay within what the analyzer decodes', () => {
  test('a refused request announcing an absurd Content-Length still gives an event the analyzer accepts', async () => {
    await withSidecar(async (sc, bus) => {
      assert.equal(await rawStatusLine(sc.port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000000000000\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
      const e = bus.pending().find((x) => x.status === 400);
      assert.ok(e, 'an event for the 400');
      const d = decodeCallEvent(encodeCallEventFast(e));
      assert.ok(d.ok, `the analyzer decodes it: ${d.ok ? '' : d.error}`);
    });
  });

  test('a request longer than a day, and non-finite or negative numbers, still give a decodable event', () => {
    for (const over of [{ latencyMs: 2 * 86_400_000 }, { bytesIn: Number.MAX_VALUE }, { bytesOut: Infinity }, { bytesIn: -1 }, { bytesOut: NaN }, { cost: 2 ** 60 }, { cost: NaN }]) {
      const d = decodeCallEvent(encodeCallEventFast(callEvent(input(over))));
      assert.ok(d.ok, `${JSON.stringify(over)}: ${d.ok ? '' : d.error}`);
    }
  });
});
