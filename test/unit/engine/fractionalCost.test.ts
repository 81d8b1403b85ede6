/** Fractional costs in the window algorithms, memory store (the scenarios: fractionalCostCases.ts). */
import { createEngine } from '../../../sidecar/engine/index.js';
import { policy } from './helpers.js';
import { fractionalCostCases } from './fractionalCostCases.js';

fractionalCostCases((rule, clock) => createEngine({ policy: policy(`rules:\n  - ${rule}\n`), service: 's', clock }));
