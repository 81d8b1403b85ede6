/**
 * Shared scenarios: a clock that steps back (NTP correction, a failover to a Redis primary whose clock
 * is behind) across a window edge must not hand out a fresh window — the counted window is still
 * counted; a step back of more than a window must not lock the client out for the length of the step.
 * Run on memory (clockStepBack.test.ts) and Redis (test/integration/engine/clockStepBack.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Engine } from '../../../sidecar/engine/index.js';
import { ManualClock, facts } from './helpers.js';

export const EDGE = 1_700_000_040_000; // a multiple of 10 s

export type MakeEngine = (rule: string, clock: ManualClock) => Engine;

async function admitted(e: Engine, n: number): Promise<number> {
  let k = 0;
  for (let i = 0; i < n; i++) if ((await e.decide(facts())).kind === 'allow') k++;
  return k;
}

export function clockStepBackCases(make: MakeEngine): void {
  for (const algorithm of ['fixed-window', 'sliding-window-counter']) {
    describe(`${algorithm}: a clock stepping back`, () => {
      const rule = `{ id: r, key: [ip], algorithm: ${algorithm}, limit: 5, window: 10s }`;
      it('across a window edge does not admit a second full window', async () => {
        const clock = new ManualClock(EDGE + 100); // 100 ms into a window
        const e = make(rule, clock);
        let n = await admitted(e, 6);
        assert.equal(n, 5);
        clock.advance(-300); // 200 ms before the edge: the previous window
        n += await admitted(e, 5);
        clock.advance(300); // back in the window that already holds 5
        n += await admitted(e, 5);
        assert.equal(n, 5, `${n} admitted within 400 ms on a limit of 5 per 10 s`);
        // and the refusal's Retry-After lets the retry pass
        clock.advance(-300);
        const v = await e.decide(facts());
        assert.equal(v.kind, 'limit');
        clock.advance(v.retryAfterMs!);
        assert.equal((await e.decide(facts())).kind, 'allow', `refused again after Retry-After ${v.retryAfterMs} ms`);
        await e.close();
      });
      it('by far more than a window does not lock the client out for the step', async () => {
        const clock = new ManualClock(EDGE + 100);
        const e = make(rule, clock);
        assert.equal(await admitted(e, 6), 5);
        clock.advance(-3_600_000); // an hour back
        assert.equal(await admitted(e, 1), 1);
        await e.close();
      });
    });
  }
}

