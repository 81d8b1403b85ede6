/**
 * Offsets vs state across a rebalance: the events of a client's open windows are not committed
 * (commits are held back to what was scored), so the partition's new owner re-reads them — but the
 * snapshot the old owner wrote at the revocation already holds their effect on the key's identity
 * tables. Re-reading them must not count them twice.
 * Events a restored client's snapshot already saw (ts ≤ its restored last event) are added to their
 * window without touching the feature context or the key's identities.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import type { ClientState } from '../../../analyzer/clientState.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { StateSnapshotter } from '../../../analyzer/state/snapshotter.js';
import { MemoryStateStore } from '../../../analyzer/state/stateStore.js';
import { T0, ev, policy } from './helpers.js';

const KEY = 'apiKey:00000000000000aa';

test('stranger requests re-read by the new owner after a rebalance are not counted twice', async () => {
  const store = new MemoryStateStore();
  const clock = { t: T0 };
  const make = (): Analyzer => new Analyzer({ policy: policy('analyzer:\n  maxClients: 1000\n'), controlPlane: new MemoryControlPlane(), reports: new MemoryReportStore(), clock: () => clock.t, state: store });
  const a = make();
  for (let s = 0; s < 900; s += 2) {
    a.ingest([ev({ client: KEY, ts: T0 + s * 1000, ip: '10.0.0.1', uaHash: 'ua-owner', route: `/api/items/${s % 20}` })]);
    clock.t = T0 + s * 1000 + 1000;
    await a.tick(clock.t);
  }
  // three requests of a stranger (new address, new agent), in the open window
  const t = clock.t;
  const stranger = [0, 1, 2].map((k) => ev({ client: KEY, ts: t + 100 + k * 100, ip: '203.0.113.5', uaHash: 'ua-intruder', route: '/api/items/99' }));
  a.ingest(stranger);
  const minute = Math.floor(stranger[2]!.ts / 60_000);
  assert.ok(a.scoredUntil(0) < stranger[0]!.ts, 'their offsets are not committed');
  await a.revoke([0]);
  await new StateSnapshotter(a, store, { clock: () => clock.t, minWindows: 1 }).flushUrgent();

  // the new owner restores the client and re-reads from the committed offset
  const b = make();
  b.ingest(stranger);
  await b.tick(clock.t);
  const st = b.takeDirty().find((s: ClientState) => s.key === KEY) ?? (b as unknown as { clients: Map<string, ClientState> }).clients.get(KEY)!;
  assert.equal(st.ids!.strangerRequests(minute), 3, 'three stranger requests, not six');
});
