/** The paging contract of test/unit/operator/reportStorePaging.ts on the Redis report store. */
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { reportStorePaging } from '../../unit/operator/reportStorePaging.js';

let redis: Redis;
const prefixes: string[] = [];

before(async () => {
  redis = await connectRedis();
});

after(async () => {
  for (const p of prefixes) {
    const stale = await redis.keys(`{${p}}*`);
    if (stale.length) await redis.del(...stale);
  }
  redis?.disconnect();
});

reportStorePaging('redis store', async () => {
  const prefix = uniqueName('rwtest-op-paging');
  prefixes.push(prefix);
  return new RedisReportStore(redis, { prefix });
});
