import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { childEnv } from '../../helpers/infra.js';
import { httpRequest, spawnRatewarden, waitFor, type RunningProcess } from '../../helpers/proc.js';

/**
 * What a newcomer sees after `npm start`: within about a minute the analyzer reports the simulated
 * attacker, blocks it, and the sidecar answers it 403 — with the in-memory store, control plane
 * and event bus, exactly as the demo runs by default.
 */
let demo: RunningProcess | null = null;
after(async () => {
  await demo?.stop('SIGTERM', 10_000);
});

test('the all-in-one demo detects the attacker, blocks it and answers 403 within about a minute', async () => {
  const token = 'demo-test-token-0123456789';
  // as a Secret made from a file gives it: with a trailing newline, which the demo trims as the analyzer does
  const given = `${token}\n`;
  demo = spawnRatewarden(['demo', '--listen', '127.0.0.1:0', '--ui', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
    env: childEnv({ RW_ADMIN_TOKEN: given }),
  });
  const d = demo;
  const banner = await waitFor(() => d.stdout.find((l) => l.includes('UI login')), 'the demo banner', 30_000);
  const sidecar = /sidecar\s+(http:\/\/\S+)/.exec(d.stdout.join('\n'))?.[1];
  const analyzer = /analyzer\s+(http:\/\/\S+)/.exec(d.stdout.join('\n'))?.[1];
  assert.ok(sidecar && analyzer, `addresses in the banner:\n${d.output()}`);
  assert.match(banner, /#token=/);

  // the sidecar proxies to the demo upstream with rate-limit headers
  const first = await httpRequest(`${sidecar}/api/items/2`, { headers: { 'x-api-key': 'curious-newcomer' } });
  assert.equal(first.status, 200);
  assert.ok(first.headers['x-ratelimit-limit'], 'X-RateLimit-Limit on a passed request');
  assert.match(String(first.headers['ratelimit-policy']), /"per-key";q=1200;w=60/);

  // the UI is served and the API answers with the token
  const ui = await httpRequest(`${analyzer}/ui/`);
  assert.equal(ui.status, 200);

  // an anomaly report with an applied block appears …
  const blocked = await waitFor(
    async () => {
      const page = await httpRequest(`${analyzer}/api/anomalies`, { headers: { authorization: `Bearer ${token}` } });
      if (page.status !== 200) return null;
      const items = (JSON.parse(page.text) as { items: Array<{ client: string; action: { kind: string; applied: boolean } }> }).items;
      return items.find((r) => r.action.kind === 'block' && r.action.applied) ?? null;
    },
    'a report whose block was applied',
    120_000,
    1_000,
  );
  const blocks = await httpRequest(`${analyzer}/api/blocks`, { headers: { authorization: `Bearer ${token}` } });
  assert.ok(blocks.text.includes(blocked.client), `the block is active: ${blocks.text}`);

  // … and the sidecar answers the attacker 403 (the demo prints its traffic by status)
  await waitFor(() => d.stdout.some((l) => /^traffic .* 403:\d+/.test(l)), '403s in the demo traffic', 30_000, 500);
});
