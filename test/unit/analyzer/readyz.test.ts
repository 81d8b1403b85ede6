/**
 * The analyzer's readiness: `/readyz` answers 200 only while the consumer runs and every dependency
 * it was given is reachable (the CLI gives Redis, where reports, the control plane and the state
 * live); `/healthz`, the liveness answer, does not depend on them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import { MemoryEventBus } from '../../../models/eventBus.js';
import { parsePolicy } from '../../../models/policy/index.js';
import { startAnalyzer } from '../../../analyzer/server.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { httpRequest } from '../../helpers/proc.js';

test('/readyz is 503 while Redis is unreachable and 200 once it is; /healthz stays 200', async () => {
  const parsed = parsePolicy('version: 1\nrules: []\n');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  let redisUp = false;
  const analyzer = await startAnalyzer({
    policy: parsed.policy,
    source: new MemoryEventBus(),
    controlPlane: new MemoryControlPlane(),
    reports: new MemoryReportStore(),
    listen: { host: '127.0.0.1', port: 0 },
    model: null,
    logger: false,
    dependencies: () => ({ redis: redisUp }),
  });
  try {
    const down = await httpRequest(analyzer.address + '/readyz');
    assert.equal(down.status, 503);
    assert.deepEqual(JSON.parse(down.text), { ok: false, consuming: true, redis: false });
    assert.equal((await httpRequest(analyzer.address + '/healthz')).status, 200);
    redisUp = true;
    const up = await httpRequest(analyzer.address + '/readyz');
    assert.equal(up.status, 200);
    assert.deepEqual(JSON.parse(up.text), { ok: true, consuming: true, redis: true });
  } finally {
    await analyzer.close();
  }
});
