/**
 * The operator UI in a real browser: Debian's Chromium driven by playwright-core against the
 * operator API + UI plugins on a listening server, with the real RedisControlPlane on real Redis.
 * Clicks list → detail → dismiss → unblock, checks Redis after each decision, checks the chart
 * drew the series, and saves screenshots under test-results/operator-ui/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from './chromium.js';
import { controlKeys, type ControlKeys } from '../../models/control.js';
import { RedisControlPlane } from '../../models/controlPlane.js';
import { connectRedis, ROOT, uniqueName } from '../helpers/infra.js';
import { ADMIN, READONLY, startOperatorServer, type OperatorServer } from '../integration/operator/fixtures.js';

const SHOTS = join(ROOT, 'test-results', 'operator-ui');
const MANUAL = 'ip:198.51.100.77';
const ATTACKER = 'apiKey:4bc3c1d3a4f2b7e1';

let redis: Redis;
let keys: ControlKeys;
let server: OperatorServer;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  redis = await connectRedis();
  keys = controlKeys(uniqueName('rwtest-opui'));
  const plane = new RedisControlPlane(redis, keys);
  server = await startOperatorServer({ plane });
  await plane.write('block', MANUAL, { until: Date.now() + 20 * 60_000, reason: 'blocked by hand for the browser test' });
  await plane.write('load', 'demo-api', { multiplier: 0.6, since: Date.now() - 60_000, reason: 'p99 410ms > 250ms' });
  browser = await launchChromium();
  page = browser.page;
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (keys) await redis.del(keys.blocks, keys.overrides, keys.load, keys.seq);
  redis?.disconnect();
});

test('the token in the URL fragment signs in, leaves the address bar, and the list shows every anomaly', { timeout: 20_000 }, async () => {
  await page.goto(`${server.url}/ui/#token=${encodeURIComponent(ADMIN)}`);
  await page.locator('table.anomalies tbody tr').nth(3).waitFor();
  assert.ok(!page.url().includes(ADMIN), 'the token must not stay in the address bar');
  assert.equal(await page.evaluate("sessionStorage.getItem('ratewarden.token')"), ADMIN);
  const ids = await Promise.all((await page.locator('table.anomalies tbody tr').all()).map((r) => r.getAttribute('data-id')));
  assert.deepEqual(ids, ['an-attacker', 'an-scraper', 'an-pending', 'an-observe']);
  assert.match((await page.locator('#conn').textContent()) ?? '', /connected · admin/);
  // report text is shown as text, never run as markup
  assert.match((await page.locator('tr[data-id="an-observe"] td.summary').textContent()) ?? '', /<script>alert\(1\)<\/script>/);
  assert.deepEqual(dialogs, []);
  await page.screenshot({ path: join(SHOTS, '1-anomalies.png'), fullPage: true });
});

test('the status filter narrows the list', { timeout: 15_000 }, async () => {
  await page.selectOption('select[name=status]', 'pending');
  await page.locator('table.anomalies tbody tr').nth(1).waitFor({ state: 'detached' });
  assert.equal(await page.locator('table.anomalies tbody tr').first().getAttribute('data-id'), 'an-pending');
  await page.selectOption('select[name=status]', '');
  await page.locator('table.anomalies tbody tr').nth(3).waitFor();
});

test('a click on a row opens the detail with the chart drawn from the series and the explanation', { timeout: 15_000 }, async () => {
  await page.locator('tr[data-id="an-attacker"] td.summary').click();
  await page.locator('section.detail[data-id="an-attacker"]').waitFor();
  await page.locator('#series-chart canvas').waitFor();
  assert.equal(await page.locator('#series-chart').getAttribute('data-points'), '120');
  // the series line (#2f6fde) and the baseline band were actually painted
  // evaluated in the page (a string: this file is type-checked without the DOM library)
  const painted = (await page.evaluate(`(() => {
    const canvas = document.querySelector('#series-chart canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let line = 0;
    let any = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 0) any++;
      if (Math.abs(data[i] - 47) < 30 && Math.abs(data[i + 1] - 111) < 30 && Math.abs(data[i + 2] - 222) < 30 && data[i + 3] > 200) line++;
    }
    return { line, any };
  })()`)) as { line: number; any: number };
  assert.ok(painted.line > 200, `series line pixels: ${painted.line}`);
  assert.ok(painted.any > 5_000, `painted pixels: ${painted.any}`);
  assert.equal(await page.locator('table.explanation tbody tr').count(), 2);
  assert.match((await page.locator('table.explanation').textContent()) ?? '', /401\+403 ratio 0\.92 vs 0\.01 normal/);
  await page.screenshot({ path: join(SHOTS, '2-anomaly-detail.png'), fullPage: true });
});

test('one click on Dismiss lifts the block in Redis and marks the anomaly dismissed', { timeout: 15_000 }, async () => {
  assert.ok(await redis.hget(keys.blocks, ATTACKER));
  await page.fill('input[name=note]', 'a partner load test');
  await page.click('button[data-action=dismiss]');
  await page.locator('section.detail[data-status="dismissed"]').waitFor();
  assert.equal(await redis.hget(keys.blocks, ATTACKER), null);
  assert.match((await page.locator('ol.history').textContent()) ?? '', /dismissed by admin.*a partner load test.*unblocked by admin/s);
  assert.ok(await page.locator('button[data-action=confirm]').isDisabled());
  await page.screenshot({ path: join(SHOTS, '3-dismissed.png'), fullPage: true });
});

test('the blocks page counts the time left down and one click on Unblock deletes the block in Redis', { timeout: 15_000 }, async () => {
  await page.click('a[data-nav=controls]');
  const row = page.locator(`table.blocks tr[data-client="${MANUAL}"]`);
  await row.waitFor();
  const left = row.locator('.time-left');
  const first = await left.textContent();
  // (polled from here: the UI's CSP forbids the string evaluation waitForFunction would need)
  let next = first;
  for (let i = 0; i < 30 && next === first; i++) {
    await new Promise((r) => setTimeout(r, 100));
    next = await left.textContent();
  }
  assert.notEqual(next, first, 'the time left did not count down');
  assert.equal(await page.locator('table.overrides tbody tr').count(), 1);
  await page.screenshot({ path: join(SHOTS, '4-blocks.png'), fullPage: true });
  await row.locator('button[data-action=unblock]').click();
  await row.waitFor({ state: 'detached' });
  assert.equal(await redis.hget(keys.blocks, MANUAL), null);
});

test('the load page draws the multiplier over time', { timeout: 15_000 }, async () => {
  await page.click('a[data-nav=load]');
  await page.locator('#load-chart canvas').waitFor();
  assert.match((await page.locator('.load-card[data-service="demo-api"]').textContent()) ?? '', /×0\.6/);
  await page.screenshot({ path: join(SHOTS, '5-load.png'), fullPage: true });
});

test('a read-only token sees the anomaly but its decision buttons are disabled', { timeout: 15_000 }, async () => {
  await page.evaluate(`sessionStorage.setItem('ratewarden.token', ${JSON.stringify(READONLY)})`);
  await page.goto(`${server.url}/ui/#/anomalies/an-pending`);
  await page.reload();
  await page.locator('section.detail[data-id="an-pending"]').waitFor();
  assert.ok(await page.locator('button[data-action=approve]').isDisabled());
  assert.ok(await page.locator('button[data-action=dismiss]').isDisabled());
  assert.deepEqual(browser.pageErrors, []);
});
