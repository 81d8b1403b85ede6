/**
 * Which upstream failures count against the client (in-process sidecar, memory store): a 502/504 the
 * sidecar made because the upstream never answered is refunded; an error status the upstream sent
 * itself counts like any answer.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { startSidecar, type RunningSidecar } from '../../../sidecar/server.js';
import { silentLogger } from '../../../sidecar/log.js';
import { freePort, httpRequest, startStubUpstream, type StubUpstream } from '../../helpers/proc.js';

function policy(yaml: string): Policy {
  const r = parsePolicy(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

const POLICY = policy(`
version: 1
identity: { apiKey: { header: x-api-key } }
store: { kind: memory }
upstream: { timeout: 200ms }
rules:
  - { id: per-key, key: [apiKey], algorithm: fixed-window, limit: 2, window: 1h }
  - { id: inflight, key: [apiKey], algorithm: concurrency, limit: 5, timeout: 1m }
`);

function start(upstream: string): Promise<RunningSidecar> {
  return startSidecar({
    policy: POLICY,
    upstream,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    eventSink: new MemoryEventBus(),
    controlPlane: new MemoryControlPlane(),
    logger: silentLogger(),
    pod: 'pod-1',
    service: 'svc',
    drainSeconds: 1,
  });
}

async function statuses(base: string, path: string, key: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await httpRequest(base + path, { headers: { 'x-api-key': key } })).status);
  return out;
}

describe('upstream failures and the client budget', () => {
  let up: StubUpstream;
  let sc: RunningSidecar;
  before(async () => {
    up = await startStubUpstream();
    sc = await start(up.url);
  });
  after(async () => {
    await sc.close();
    await up.close();
  });

  test('a 504 (the upstream did not answer in time) is not counted against the client', async () => {
    assert.deepEqual(await statuses(sc.address, '/hang', 'k-timeout', 4), [504, 504, 504, 504]);
    assert.deepEqual(await statuses(sc.address, '/ok', 'k-timeout', 3), [200, 200, 429]);
  });

  test("an error status the upstream sent itself counts: the upstream answered", async () => {
    assert.deepEqual(await statuses(sc.address, '/status/503', 'k-own-5xx', 3), [503, 503, 429]);
  });

  test('a refused connection (502) is not counted against the client', async () => {
    const port = await freePort();
    const down = await start(`http://127.0.0.1:${port}`);
    try {
      assert.deepEqual(await statuses(down.address, '/x', 'k-refused', 5), [502, 502, 502, 502, 502]);
      const back = await startStubUpstream({ port });
      try {
        assert.deepEqual(await statuses(down.address, '/x', 'k-refused', 3), [200, 200, 429]);
      } finally {
        await back.close();
      }
    } finally {
      await down.close();
    }
  });
});
