/**
 * The enforcement engine. The sidecar creates one with `createEngine` and asks it for a verdict per
 * request; everything else here is the engine's own business. See README.md for the algorithms'
 * exactness and error bounds, the Redis key layout, batching and fail modes.
 */
import { RuleEngine } from './engine.js';
import type { Engine, EngineOptions } from './types.js';

export * from './types.js';
export { graphqlCost, type GraphqlCostResult } from './graphqlCost.js';

/**
 * Creates an engine for `options.policy`. When `policy.store.kind` is 'redis', `options.redis` (an
 * ioredis Redis or Cluster client, owned by the caller: `close()` does not quit it) is required, else
 * this throws RatewardenError RW_CONFIG_STORE.
 */
export function createEngine(options: EngineOptions): Engine {
  return new RuleEngine(options);
}
