/**
 * A sidecar whose adaptive-concurrency limit is fixed at one slot (aimd, min = max = initial = 1),
 * on the memory store with one global rule, in front of an upstream that answers each path after
 * `delayOf(path)` ms (null: never) and records the paths that reached it. For the tests of requests
 * queued for that slot.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryEventBus } from '../../models/eventBus.js';
import { parsePolicy } from '../../models/policy/index.js';
import { silentLogger } from '../../sidecar/log.js';
import { startSidecar, type RunningSidecar } from '../../sidecar/server.js';
import { metricValue } from './proc.js';

export interface OneSlotSidecar {
  readonly sc: RunningSidecar;
  readonly bus: MemoryEventBus;
  /** Paths in the order they reached the upstream. */
  readonly arrived: string[];
  /** A metric's value now (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** The sidecar (again, if a test closed it), then the upstream. */
  close(): Promise<void>;
}

export async function startOneSlotSidecar(opts: { upstreamTimeout: string; limit: number; drainSeconds: number; delayOf: (path: string) => number | null }): Promise<OneSlotSidecar> {
  const parsed = parsePolicy(`
version: 1
store: { kind: memory }
upstream: { timeout: ${opts.upstreamTimeout}, adaptiveConcurrency: { strategy: aimd, minLimit: 1, maxLimit: 1, initialLimit: 1 } }
rules:
  - { id: g, key: [global], algorithm: fixed-window, limit: ${opts.limit}, window: 1h }
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const arrived: string[] = [];
  const up = createServer((req, res) => {
    const path = req.url ?? '';
    arrived.push(path);
    req.resume();
    const delay = opts.delayOf(path);
    if (delay !== null) setTimeout(() => res.end('ok'), delay);
  });
  await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
  const bus = new MemoryEventBus();
  const sc = await startSidecar({ policy: parsed.policy, upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), service: 's', drainSeconds: opts.drainSeconds, eventSink: bus });
  return {
    sc,
    bus,
    arrived,
    metric: async (name, labels = {}) => metricValue(await sc.metrics.registry.metrics(), name, labels) ?? 0,
    close: async () => {
      await sc.close();
      up.closeAllConnections();
      await new Promise<void>((resolve) => up.close(() => resolve()));
    },
  };
}
