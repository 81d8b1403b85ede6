/**
 * GET /api/anomalies?since= with a date the calendar does not have (2025-02-30, 2025-04-31, a
 * 29 February outside a leap year) is a 400 problem naming `querystring.since`, like any other
 * `since` that is no time. Date.parse rolled it over (2025-02-30 → 2 March) and the list was
 * silently filtered from a day the operator never asked for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, inMemoryApi } from './inMemoryApi.js';

const NOW = Date.UTC(2025, 2, 1);

test('since with an impossible day is a 400; real days (29 Feb of a leap year) are taken', async () => {
  for (const name of BACKENDS) {
    const { app, headers } = await inMemoryApi(name, NOW);
    try {
      for (const since of ['2025-02-30', '2025-02-29', '2025-04-31T00:00:00Z', '2025-02-31T12:00:00.000+01:00', '2025-03-00']) {
        const res = await app.inject({ method: 'GET', url: `/api/anomalies?since=${encodeURIComponent(since)}`, headers });
        assert.equal(res.statusCode, 400, `${name} ${since}: ${res.body}`);
        assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
        assert.equal(res.json().errors?.[0]?.path, 'querystring.since', since);
      }
      for (const since of ['2024-02-29', '2025-02-28T23:59:59Z', '2025-04-30', '2025-12-31T00:00:00+01:00', '1h', '1740787200000']) {
        const res = await app.inject({ method: 'GET', url: `/api/anomalies?since=${encodeURIComponent(since)}`, headers });
        assert.equal(res.statusCode, 200, `${name} ${since}: ${res.body}`);
      }
    } finally {
      await app.close();
    }
  }
});
