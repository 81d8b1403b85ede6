/** Clock steps back, memory store (the scenarios: clockStepBackCases.ts). */
import { createEngine } from '../../../sidecar/engine/index.js';
import { policy } from './helpers.js';
import { clockStepBackCases } from './clockStepBackCases.js';

clockStepBackCases((rule, clock) => createEngine({ policy: policy(`rules:\n  - ${rule}\n`), service: 's', clock }));
