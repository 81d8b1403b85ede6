import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import { childEnv, connectRedis, redisUrl, uniqueName } from '../../helpers/infra.js';
import { httpRequest, spawnRatewarden, waitFor, type RunningProcess } from '../../helpers/proc.js';
import { makeReport } from '../../integration/operator/fixtures.js';

/**
 * The demo on Redis keeps its anomaly reports under RW_REPORTS_PREFIX, as `ratewarden analyzer`
 * does: it used to read and write the default `rw:anomalies` whatever the setting, so a demo shared
 * (and mixed up) its reports with every other analyzer on the same Redis.
 */
const TOKEN = 'demo-reports-prefix-token-0123456789';
let demo: RunningProcess | null = null;
let redis: Redis | null = null;
let prefix = '';
after(async () => {
  await demo?.stop('SIGTERM', 10_000);
  if (redis && prefix) {
    const keys = await redis.keys(prefix + '*');
    if (keys.length) await redis.del(...keys);
  }
  redis?.disconnect();
});

test('the demo on Redis serves the reports under RW_REPORTS_PREFIX', async () => {
  prefix = uniqueName('rw-test-demo-anomalies');
  redis = (await connectRedis()) as Redis;
  // a report written by an analyzer with that prefix
  const report = makeReport({ id: uniqueName('an-demo-prefix'), client: 'ip:203.0.113.77', minutesAgo: 1, score: 0.9, kind: 'block', status: 'open', applied: false, summary: 'under the prefix' }, Date.now());
  assert.equal(await new RedisReportStore(redis, { prefix }).create(report), true);

  demo = spawnRatewarden(['demo', '--listen', '127.0.0.1:0', '--ui', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-traffic'], {
    env: childEnv({ REDIS_URL: redisUrl(), RW_ADMIN_TOKEN: TOKEN, RW_REPORTS_PREFIX: prefix, RW_CTL_PREFIX: uniqueName('rw-test-demo-ctl') }),
  });
  const d = demo;
  await waitFor(() => d.stdout.find((l) => l.includes('UI login')), 'the demo banner', 30_000);
  const analyzer = /analyzer\s+(http:\/\/\S+)/.exec(d.stdout.join('\n'))?.[1];
  assert.ok(analyzer, `analyzer address in the banner:\n${d.output()}`);
  const res = await httpRequest(`${analyzer}/api/anomalies/${report.id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json<{ report: { summary: string } }>().report.summary, 'under the prefix');
});
