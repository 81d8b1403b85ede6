/** The clock step-back scenarios (test/unit/engine/clockStepBackCases.ts) on Redis (the Lua scripts, time injected). */
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { createEngine } from '../../../sidecar/engine/index.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { policy } from '../../unit/engine/helpers.js';
import { clockStepBackCases } from '../../unit/engine/clockStepBackCases.js';

let redis: Redis;
before(async () => {
  redis = await connectRedis();
});
after(() => redis?.disconnect());

clockStepBackCases((rule, clock) =>
  createEngine({
    policy: policy(`store: { kind: redis, keyPrefix: ${uniqueName('step')}, timeout: 2s }\nrules:\n  - ${rule}\n`),
    service: 's',
    clock,
    redis,
    redisTime: 'clock',
  }),
);
