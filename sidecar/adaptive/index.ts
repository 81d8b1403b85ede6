/**
 * Adaptive concurrency toward the upstream (policy `upstream.adaptiveConcurrency`): strategies
 * behind one ConcurrencyLimit interface, a priority-aware limiter, and the gate the request path
 * uses. See gate.ts for where it sits in a request.
 */
export type { ConcurrencyLimit, LimitBounds } from './limit.js';
export { AimdLimit, type AimdOptions } from './aimdLimit.js';
export { VegasLimit, type VegasOptions } from './vegasLimit.js';
export { Gradient2Limit, type Gradient2Options } from './gradient2Limit.js';
export { WindowedLimit, type WindowOptions } from './windowedLimit.js';
export { createLimit } from './createLimit.js';
export { PriorityLimiter, Permit, defaultShare, type Waiter, type Ticket, type ShedReason, type LimiterOptions, type LimiterStats } from './priorityLimiter.js';
export { AdaptiveGate, adaptiveGateFor, settleForward, type AdaptiveGateOptions } from './gate.js';
export { overloaded, SHED_VERDICT, ADAPTIVE_RULE, TEMPORARY_REDUCED_CAPACITY } from './overloaded.js';
export { adaptiveMetrics, type AdaptiveMetrics } from './metrics.js';
