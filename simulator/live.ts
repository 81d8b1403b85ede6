/**
 * Live traffic for demos: a small flat-rate population of normal clients plus an attacker, sent in
 * real time over HTTP (e.g. to the sidecar of `npm start`), starting now. The default attack is a
 * volumetric burst 20 s in — unmistakable within a minute; pass `attacks` for any other scenario.
 */
import { driveHttp, type HttpDriver, type HttpRunStats } from './drivers/http.js';
import type { SimCall } from './calls.js';
import { createSimulation, type Simulation } from './generate.js';
import { createPopulation } from './population.js';
import type { Seed } from './random.js';
import type { GroundTruthLabel, ScenarioSpec } from './scenarios.js';

export interface LiveTrafficOptions {
  readonly baseUrl: string;
  readonly seed?: Seed;
  /** Normal clients (default 40). */
  readonly clients?: number;
  /** Total rate of the normal clients, calls per second (default 20). */
  readonly ratePerSec?: number;
  /** Attacks, `at` relative to now (default: a volumetric burst at 20 s for 10 min, 20/s). */
  readonly attacks?: readonly ScenarioSpec[];
  /** Stop after this long (default: until stop()). */
  readonly durationMs?: number;
  readonly maxInFlight?: number;
  readonly hashKey?: string;
  readonly onResult?: (call: SimCall, status: number | null, latencyMs: number) => void;
  readonly now?: () => number;
}

export interface LiveTraffic {
  readonly simulation: Simulation;
  readonly labels: readonly GroundTruthLabel[];
  readonly driver: HttpDriver;
  stats(): HttpRunStats;
  stop(): Promise<HttpRunStats>;
}

export const DEFAULT_DEMO_ATTACK: ScenarioSpec = { name: 'volumetric-burst', at: '20s', duration: '10m', intensity: 0.5 };

/** The calls startLiveTraffic sends, from startMs on: for checking a demo's traffic without sending it. */
export function createLiveSimulation(options: Omit<LiveTrafficOptions, 'baseUrl' | 'maxInFlight' | 'onResult' | 'now'>, startMs: number): Simulation {
  const seed = options.seed ?? 'demo';
  const population = createPopulation({
    seed,
    clients: options.clients ?? 40,
    ratePerSec: options.ratePerSec ?? 20,
    patterns: false,
    ...(options.hashKey !== undefined ? { hashKey: options.hashKey } : {}),
  });
  return createSimulation({
    seed,
    startMs,
    duration: options.durationMs ?? Infinity,
    population,
    scenarios: options.attacks ?? [DEFAULT_DEMO_ATTACK],
  });
}

export function startLiveTraffic(options: LiveTrafficOptions): LiveTraffic {
  const startMs = (options.now ?? Date.now)();
  const simulation = createLiveSimulation(options, startMs);
  const driver = driveHttp({
    baseUrl: options.baseUrl,
    calls: simulation.calls(),
    simStartMs: startMs,
    ...(options.durationMs !== undefined ? { durationMs: options.durationMs } : {}),
    maxInFlight: options.maxInFlight ?? 128,
    ...(options.onResult ? { onResult: options.onResult } : {}),
  });
  return { simulation, labels: simulation.labels, driver, stats: driver.stats, stop: driver.stop };
}
