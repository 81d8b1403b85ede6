/** Fractional costs in the window algorithms (test/unit/engine/fractionalCostCases.ts) on Redis. */
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { createEngine } from '../../../sidecar/engine/index.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { policy } from '../../unit/engine/helpers.js';
import { fractionalCostCases } from '../../unit/engine/fractionalCostCases.js';

let redis: Redis;
before(async () => {
  redis = await connectRedis();
});
after(() => redis?.disconnect());

fractionalCostCases((rule, clock) =>
  createEngine({
    policy: policy(`store: { kind: redis, keyPrefix: ${uniqueName('frac')}, timeout: 2s }\nrules:\n  - ${rule}\n`),
    service: 's',
    clock,
    redis,
    redisTime: 'clock',
  }),
);
