/**
 * A partition revoked and assigned back before the snapshot writer took its clients (a second
 * rebalance within a second, a consumer that crashed and rejoined): the new reading starts at the
 * held-back commit, so the events of the open windows come again. The client is taken back from
 * the hand-off as it was, and its feature context and key identities already hold those events:
 * they must not be counted twice (as for a client restored from its snapshot, rebalanceReplay.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import type { ClientState } from '../../../analyzer/clientState.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { MemoryStateStore } from '../../../analyzer/state/stateStore.js';
import { T0, ev, policy } from './helpers.js';

const KEY = 'apiKey:00000000000000aa';

/**
 * An analyzer (LRU of `maxClients`) where KEY has 15 minutes of one owner's traffic and then three
 * requests from a stranger, not yet committed: what a re-read after a revoke brings again.
 */
async function keyWithStranger(maxClients: number) {
  const clock = { t: T0 };
  const a = new Analyzer({ policy: policy(`analyzer:\n  maxClients: ${maxClients}\n`), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => clock.t, state: new MemoryStateStore() });
  for (let s = 0; s < 900; s += 2) {
    a.ingest([ev({ client: KEY, ts: T0 + s * 1000, ip: '10.0.0.1', uaHash: 'ua-owner', route: `/api/items/${s % 20}` })]);
    clock.t = T0 + s * 1000 + 1000;
    await a.tick(clock.t);
  }
  const t = clock.t;
  const stranger = [0, 1, 2].map((k) => ev({ client: KEY, ts: t + 100 + k * 100, ip: '203.0.113.5', uaHash: 'ua-intruder', route: '/api/items/99' }));
  a.ingest(stranger);
  assert.ok(a.scoredUntil(0) < stranger[0]!.ts, 'their offsets are not committed');
  const clients = (a as unknown as { clients: { get(k: string): ClientState | undefined } }).clients;
  return { a, clock, stranger, clients, minute: Math.floor(stranger[2]!.ts / 60_000) };
}

test('events re-read after a partition comes back before its clients were written are not counted twice', async () => {
  const { a, clock, stranger, clients, minute } = await keyWithStranger(1000);
  await a.revoke([0]);
  // the partition is back before any snapshot flush: read again from the held-back commit
  a.ingest(stranger);
  await a.tick(clock.t);
  const st = clients.get(KEY)!;
  assert.ok(st, 'the client is held again');
  assert.equal(st.ids!.strangerRequests(minute), 3, 'three stranger requests, not six');
});

test('the same for a client that left the LRU before the revoke and still waits for the snapshot writer', async () => {
  const { a, clock, stranger, clients, minute } = await keyWithStranger(1);
  // another client takes the only place: KEY leaves with unwritten changes (the hand-off)
  a.ingest([ev({ client: 'apiKey:00000000000000bb', ts: clock.t + 400 })]);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(clients.get(KEY), undefined, 'evicted');
  await a.revoke([0]);
  a.ingest(stranger);
  await a.tick(clock.t);
  const st = clients.get(KEY)!;
  assert.ok(st, 'taken back from the hand-off');
  assert.equal(st.ids!.strangerRequests(minute), 3, 'three stranger requests, not six');
});
