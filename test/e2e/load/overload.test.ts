/**
 * A real `ratewarden sidecar` process with adaptive concurrency in front of the simulator's
 * fixed-capacity upstream, pushed to 3× its capacity: it sheds with 503 + Retry-After before the
 * upstream's own queue overflows, free first, while the enterprise tier keeps succeeding.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { childEnv } from '../../helpers/infra.js';
import { httpRequest, metricValue, startSidecarProcess, type HttpAnswer, type SidecarProcess } from '../../helpers/proc.js';
import { startStubUpstream, type StubUpstream } from '../../../simulator/stub-upstream.js';
import { runOfferedLoad } from '../../../simulator/drivers/http.js';

const WORKERS = 8;
const SERVICE_MS = 40;
const CAPACITY = (WORKERS * 1000) / (SERVICE_MS * Math.exp(0.02)); // ≈ 196/s

const POLICY = `
version: 1
identity: { apiKey: { header: x-api-key } }
clients:
  "apiKey:ent-1": { tier: enterprise }
  "apiKey:ent-2": { tier: enterprise }
tiers: { free: {}, enterprise: { shedPriority: 0 } }
store: { kind: memory }
upstream: { connections: 256, adaptiveConcurrency: { strategy: gradient2, minLimit: 4, maxLimit: 100, initialLimit: 16 } }
rules: []
`;

let up: StubUpstream;
let sc: SidecarProcess;

before(async () => {
  up = await startStubUpstream({ capacity: { workers: WORKERS, serviceMs: SERVICE_MS, queueLimit: 100 }, seed: 'e2e-load' });
  sc = await startSidecarProcess({ policy: POLICY, upstream: up.url, env: childEnv({ RW_SERVICE: 'shop' }) });
});

after(async () => {
  await sc?.stop();
  await up?.close();
});

test('at 3× capacity the sidecar sheds free requests with 503 while enterprise keeps succeeding and the upstream never overflows', async () => {
  const statuses: Record<string, Record<string, number>> = { free: {}, enterprise: {} };
  let probe: HttpAnswer | null = null;
  let probing = true;
  const prober = (async () => {
    while (probing && probe === null) {
      const r = await httpRequest(`${sc.url}/api/items/1`, { headers: { 'x-api-key': 'probe-free' } });
      if (r.status === 503) probe = r;
      else await new Promise((res) => setTimeout(res, 100));
    }
  })();
  const load = await runOfferedLoad({
    baseUrl: sc.url,
    ratePerSec: 1,
    durationMs: 1,
    schedule: [
      { ratePerSec: Math.round(CAPACITY * 0.5), durationMs: 2_000 },
      { ratePerSec: Math.round(CAPACITY * 3), durationMs: 8_000 },
    ],
    tiers: [
      { tier: 'free', share: 0.8, apiKeys: ['free-1', 'free-2', 'free-3'] },
      { tier: 'enterprise', share: 0.2, apiKeys: ['ent-1', 'ent-2'] },
    ],
    maxInFlight: 1_024,
    connections: 256,
    timeoutMs: 10_000,
    onResult: (tier, status) => {
      const key = String(status);
      statuses[tier]![key] = (statuses[tier]![key] ?? 0) + 1;
    },
  });
  probing = false;
  await prober;
  const freeSent = load.tiers.free!.sent;
  const entSent = load.tiers.enterprise!.sent;
  const detail = JSON.stringify({ statuses, upstream: up.stats() });
  assert.ok((statuses.free!['503'] ?? 0) > freeSent * 0.3, `free shed: ${detail}`);
  assert.ok((statuses.enterprise!['200'] ?? 0) >= entSent * 0.97, `enterprise success: ${detail}`);
  assert.equal(up.stats().shed, 0, `the upstream's queue overflowed: ${detail}`);

  assert.ok(probe, 'a free request was shed while the load ran');
  const shed = probe as HttpAnswer;
  assert.equal(shed.headers['retry-after'], '1');
  assert.equal(shed.headers['content-type'], 'application/problem+json');
  const body = shed.json<{ status: number; error: string; type: string }>();
  assert.equal(body.status, 503);
  assert.equal(body.error, 'overloaded');
  assert.match(body.type, /#temporary-reduced-capacity$/);

  const metrics = (await httpRequest(`${sc.adminUrl}/metrics`)).text;
  assert.ok(metricValue(metrics, 'ratewarden_shed_total', { tier: 'free' })! > 0);
  const limit = metricValue(metrics, 'ratewarden_adaptive_limit')!;
  assert.ok(limit >= WORKERS && limit <= 100, `limit ${limit}`);
});
