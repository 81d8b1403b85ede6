/**
 * The simulator's offered-load driver with a rate schedule and a per-answer callback (what the
 * load experiment needs: steps back to back on one pool, every answer with its send time).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStubUpstream } from '../../../simulator/stub-upstream.js';
import { runOfferedLoad } from '../../../simulator/drivers/http.js';

test('a schedule sends each step at its own rate within one run and reports every answer with its send time', async () => {
  const up = await startStubUpstream();
  try {
    const answers: Array<{ tier: string; status: number | null; sentAt: number }> = [];
    const result = await runOfferedLoad({
      baseUrl: up.url,
      ratePerSec: 1,
      durationMs: 1,
      schedule: [
        { ratePerSec: 200, durationMs: 500 },
        { ratePerSec: 40, durationMs: 500 },
      ],
      tiers: [
        { tier: 'free', share: 1, apiKeys: ['a'] },
        { tier: 'enterprise', share: 1, apiKeys: ['b'] },
      ],
      onResult: (tier, status, _latency, sentAt) => answers.push({ tier, status, sentAt }),
    });
    assert.equal(result.durationMs, 1_000);
    assert.equal(result.sent, 120);
    assert.equal(answers.length, 120);
    assert.ok(answers.every((a) => a.status === 200));
    const first = answers.filter((a) => a.sentAt < 500).length;
    assert.ok(first >= 95 && first <= 101, `first step sent ${first}`);
    assert.deepEqual(new Set(answers.map((a) => a.tier)), new Set(['free', 'enterprise']));
  } finally {
    await up.close();
  }
});
