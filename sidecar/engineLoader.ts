/**
 * How the sidecar gets its enforcement engine: `createEngine` from sidecar/engine (its contract is
 * sidecar/engine/types.ts), unless the caller injects a factory (tests of the sidecar around the
 * engine contract, benchmarks).
 */
import { createEngine } from './engine/index.js';
import type { Engine, EngineOptions } from './engine/types.js';

export type EngineFactory = (opts: EngineOptions) => Engine | Promise<Engine>;

export const defaultEngineFactory: EngineFactory = createEngine;
