/**
 * A running operator API + UI for tests: the real plugins on a fastify instance, the standalone
 * backend on a real control plane (RedisControlPlane on real Redis in the tests), and seeded,
 * deterministic anomaly reports and series.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { AnomalyReport } from '../../../models/anomaly.js';
import type { ControlPlane } from '../../../models/controlPlane.js';
import type { Series } from '../../../analyzer/api/backend.js';
import { operatorApi } from '../../../analyzer/api/plugin.js';
import { StandaloneBackend } from '../../../analyzer/api/standaloneBackend.js';
import { LoadHistory } from '../../../analyzer/api/loadHistory.js';
import { operatorUi } from '../../../analyzer/ui/plugin.js';
import { mulberry32 as rng } from '../../../models/ml/prng.js';

export const ADMIN = 'admin-token-for-tests-0123456789';
export const READONLY = 'readonly-token-for-tests-987654';

export const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const STEP = 10_000;


/** 120 points of 10 s ending at `end`: noise around `mean`, and from `spikeAt` on, `spike` times higher. */
export function makeSeries(seed: number, end: number, mean: number, spikeAt: number | null, spike = 8): Series {
  const r = rng(seed);
  const ts: number[] = [];
  const value: number[] = [];
  const means: number[] = [];
  const spreads: number[] = [];
  const limited: number[] = [];
  for (let i = 119; i >= 0; i--) {
    const t = end - i * STEP;
    ts.push(t);
    const base = mean * (1 + 0.15 * Math.sin(t / 300_000)) + (r() - 0.5) * mean * 0.3;
    const v = Math.max(0, Math.round((spikeAt !== null && t >= spikeAt ? base * spike : base) * 10) / 10);
    value.push(v);
    // the block lands about 30 s into the spike: from then on the sidecars answer 403
    limited.push(spikeAt !== null && spike > 4 && t >= spikeAt + 30_000 ? v : 0);
    means.push(mean);
    spreads.push(mean * 0.12);
  }
  return { feature: 'requests_10s', unit: 'req/10s', stepMs: STEP, ts, value, mean: means, spread: spreads, limited, k: 3 };
}

interface Seed {
  id: string;
  client: string;
  minutesAgo: number;
  score: number;
  kind: 'observe' | 'tighten' | 'block';
  status: AnomalyReport['status'];
  applied: boolean;
  summary: string;
}

export const SEEDS: readonly Seed[] = [
  { id: 'an-attacker', client: 'apiKey:4bc3c1d3a4f2b7e1', minutesAgo: 1, score: 0.97, kind: 'block', status: 'actioned', applied: true, summary: 'requests 412/10s vs 48 normal; 401+403 ratio 0.92 vs 0.01' },
  { id: 'an-scraper', client: 'ip:203.0.113.7', minutesAgo: 3, score: 0.81, kind: 'tighten', status: 'actioned', applied: true, summary: 'distinct routes 180/min vs 6 normal' },
  { id: 'an-pending', client: 'user:mallory', minutesAgo: 5, score: 0.93, kind: 'block', status: 'pending', applied: false, summary: 'login failures 40/min vs 0.2 normal' },
  { id: 'an-observe', client: 'apiKey:77aa01c0ffee9921', minutesAgo: 9, score: 0.62, kind: 'observe', status: 'open', applied: false, summary: 'payload size 3× normal <script>alert(1)</script>' },
];

export function makeReport(seed: Seed, now: number): AnomalyReport {
  const ts = now - seed.minutesAgo * 60_000;
  const ttlMs = 600_000;
  return {
    v: 1,
    id: seed.id,
    ts,
    client: seed.client,
    tier: 'free',
    service: 'demo-api',
    window: { start: ts - 60_000, end: ts, sizeMs: 60_000 },
    score: seed.score,
    detectors: { robust_z: seed.score, autoencoder: Math.max(0, seed.score - 0.1), ...(seed.kind === 'block' ? { auth_failures: 0.99 } : {}) },
    explanation: [
      { feature: 'requests_10s', observed: 412, baseline: 48, spread: 6, z: 60.7, detector: 'robust_z', text: 'requests 412 per 10 s vs 48 normal' },
      { feature: 'ratio_401_403', observed: 0.92, baseline: 0.01, spread: 0.02, z: 45.5, detector: 'auth_failures', text: '401+403 ratio 0.92 vs 0.01 normal' },
    ],
    summary: seed.summary,
    action: { kind: seed.kind, ...(seed.kind === 'tighten' ? { multiplier: 0.2 } : {}), ttlMs, ...(seed.applied ? { until: ts + ttlMs } : {}), applied: seed.applied },
    status: seed.status,
    history: [{ ts, who: 'analyzer', what: 'detected' }, ...(seed.applied ? [{ ts, who: 'analyzer', what: 'actioned' }] : [])],
  };
}

/** Writes the control-plane state the seeded reports imply (the analyzer would have). */
export async function seedControl(plane: ControlPlane, now: number): Promise<void> {
  for (const seed of SEEDS) {
    if (!seed.applied) continue;
    const ts = now - seed.minutesAgo * 60_000;
    if (seed.kind === 'block') await plane.write('block', seed.client, { until: ts + 600_000, reason: `anomaly ${seed.id}: ${seed.summary}`, anomalyId: seed.id });
    if (seed.kind === 'tighten') await plane.write('override', `*|${seed.client}`, { multiplier: 0.2, until: ts + 600_000, reason: `anomaly ${seed.id}`, anomalyId: seed.id });
  }
}

export interface OperatorServer {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly backend: StandaloneBackend;
  readonly loadHistory: LoadHistory;
  close(): Promise<void>;
}

export async function startOperatorServer(opts: { plane: ControlPlane; now?: () => number; adminToken?: string | null; readonlyToken?: string | null; seed?: boolean }): Promise<OperatorServer> {
  const now = opts.now ?? Date.now;
  const loadHistory = new LoadHistory(2_000, now);
  await loadHistory.follow(opts.plane);
  const backend = new StandaloneBackend({
    plane: opts.plane,
    now,
    loadHistory,
    seriesOf: (client, at) => {
      const seed = SEEDS.find((s) => s.client === client);
      if (!seed) return null;
      const idx = SEEDS.indexOf(seed);
      const end = Math.max(at, now() - seed.minutesAgo * 60_000) + 60_000;
      return makeSeries(idx + 1, end, 48, seed.kind === 'observe' ? end - 90_000 : end - 120_000, seed.kind === 'observe' ? 2.5 : 8);
    },
    clientOf: (client) => {
      const seed = SEEDS.find((s) => s.client === client);
      if (!seed) return null;
      const idx = SEEDS.indexOf(seed);
      const end = now();
      return {
        client,
        tier: 'free',
        baseline: { features: [{ feature: 'requests_10s', mean: 48, spread: 5.8, n: 4_320 }, { feature: 'ratio_401_403', mean: 0.01, spread: 0.02, n: 4_320 }], updatedAt: end, warm: true },
        series: makeSeries(idx + 11, end, 48, seed.kind === 'observe' ? null : end - (seed.minutesAgo + 1) * 60_000),
      };
    },
  });
  if (opts.seed !== false) {
    for (const seed of SEEDS) backend.reports.put(makeReport(seed, now()));
    await seedControl(opts.plane, now());
  }
  const app = Fastify({ logger: false });
  await app.register(operatorApi, { backend, adminToken: opts.adminToken === undefined ? ADMIN : opts.adminToken, readonlyToken: opts.readonlyToken === undefined ? READONLY : opts.readonlyToken, now });
  await app.register(operatorUi);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    url,
    backend,
    loadHistory,
    async close() {
      await app.close();
      await loadHistory.close();
    },
  };
}
