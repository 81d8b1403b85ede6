/** The traffic simulator: see simulator/README.md. */
export { Rng, WeightedTable, hash32, type Seed } from './random.js';
export { IpAllocator, newApiKey, uaHash, USER_AGENTS, SEARCH_WORDS, type Network, type UserAgentFamily } from './identities.js';
export {
  ROUTES,
  ROUTE_NAMES,
  ITEM_COUNT,
  REPORT_COUNT,
  PAGE_SIZE,
  itemExists,
  reportExists,
  nextExistingItem,
  nextMissingItem,
  passwordFor,
  resolveRoute,
  statusFor,
  type RouteName,
  type RouteDef,
  type ResolvedRoute,
} from './routes.js';
export {
  createPopulation,
  rateMultiplier,
  policyClients,
  byRate,
  TIERS,
  CLIENT_KINDS,
  type Population,
  type PopulationOptions,
  type SimClient,
  type Tier,
  type ClientKind,
  type RatePattern,
} from './population.js';
export { CallBuilder, requestTarget, type SimCall, type Caller, type RequestIntent } from './calls.js';
export { PiecewisePoisson, JitteredPeriodic, ArrivalActor, type Actor, type Arrivals } from './arrivals.js';
export { clientActor, normalIntent } from './behaviour.js';
export { SCENARIO_NAMES, defaultScenarios, planScenario, type ScenarioName, type ScenarioSpec, type GroundTruthLabel } from './scenarios.js';
export { createSimulation, DEFAULT_START_MS, type Simulation, type SimulationOptions } from './generate.js';
export { startStubUpstream, type StubUpstream, type StubUpstreamOptions, type StubCapacity, type StubStats } from './stub-upstream.js';
export {
  driveHttp,
  runOfferedLoad,
  runLoadSteps,
  type DriveHttpOptions,
  type HttpDriver,
  type HttpRunStats,
  type GroupSnapshot,
  type OfferedLoadOptions,
  type OfferedLoadTier,
  type OfferedLoadResult,
  type TierLoadStats,
} from './drivers/http.js';
export { driveKafka, type DriveKafkaOptions, type KafkaDriver, type KafkaRunStats } from './drivers/kafka.js';
export { LatencyHistogram, type LatencySummary } from './drivers/histogram.js';
export { startLiveTraffic, DEFAULT_DEMO_ATTACK, type LiveTraffic, type LiveTrafficOptions } from './live.js';
