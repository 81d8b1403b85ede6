/**
 * An in-process sidecar for tests of the proxy path: the memory store, one fixed-window rule far
 * above what a test sends (1000 an hour per IP), no admin listener, a 1 s drain.
 */
import type { EventSink } from '../../models/eventBus.js';
import { parsePolicy } from '../../models/policy/index.js';
import { silentLogger } from '../../sidecar/log.js';
import { startSidecar, type RunningSidecar } from '../../sidecar/server.js';

export async function startProxySidecar(upstream: string, opts: { eventSink?: EventSink; upstreamTimeout?: string } = {}): Promise<RunningSidecar> {
  const p = parsePolicy(`
version: 1
store: { kind: memory }
upstream: { timeout: ${opts.upstreamTimeout ?? '10s'} }
rules:
  - { id: g, key: [ip], algorithm: fixed-window, limit: 1000, window: 1h }
`);
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  return startSidecar({ policy: p.policy, upstream, listen: { host: '127.0.0.1', port: 0 }, admin: null, logger: silentLogger(), ...(opts.eventSink ? { eventSink: opts.eventSink } : {}), drainSeconds: 1 });
}
