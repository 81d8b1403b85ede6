/**
 * The operator UI at its edges, in Debian's Chromium (playwright-core): a login link whose token
 * has a `%` that is no escape, a token the analyzer refuses, an address with a malformed escape, and
 * answers that arrive out of order (a poll of the first page answering after "Older →").
 * The control plane is in memory: nothing here is about Redis.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from './chromium.js';
import { MemoryControlPlane } from '../../models/controlPlane.js';
import { makeReport, startOperatorServer, type OperatorServer } from '../integration/operator/fixtures.js';

/** A token with a `%` that is not an escape: pasted into a login link as it is. */
const ADMIN = 'pct%zz-admin-token-0123456789';
const EXTRA = 40; // with the 4 seeded reports: two pages of 25

let server: OperatorServer;
let browser: Browser;
let page: Page;

before(async () => {
  server = await startOperatorServer({ plane: new MemoryControlPlane(), adminToken: ADMIN });
  const now = Date.now();
  for (let i = 0; i < EXTRA; i++) {
    const minutesAgo = 20 + i;
    server.backend.reports.put(makeReport({ id: `an-x-${minutesAgo}`, client: `ip:198.51.100.${i + 1}`, minutesAgo, score: 0.72, kind: 'observe', status: 'open', applied: false, summary: `extra ${minutesAgo}` }, now));
  }
  browser = await launchChromium();
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const rowIds = async () => Promise.all((await page.locator('table.anomalies tbody tr').all()).map((r) => r.getAttribute('data-id')));

test('a login link whose token has a % that is no escape signs in and leaves the address bar (it stopped the whole UI, token on screen)', { timeout: 20_000 }, async () => {
  await page.goto(`${server.url}/ui/#token=${ADMIN}`);
  await page.locator('table.anomalies tbody tr').first().waitFor();
  assert.ok(!page.url().includes('pct%zz'), `the token stayed in the address bar: ${page.url()}`);
  assert.equal(await page.evaluate("sessionStorage.getItem('ratewarden.token')"), ADMIN);
  assert.deepEqual(browser.pageErrors, []);
});

test('an address with a malformed escape shows the API answer, not a blank page and a script error', { timeout: 15_000 }, async () => {
  await page.evaluate("location.hash = '#/anomalies/%E0%A4%A'");
  await page.locator('#main .error-box').waitFor();
  assert.match((await page.locator('#main .error-box').textContent()) ?? '', /not found|no anomaly/i);
  assert.deepEqual(browser.pageErrors, []);
});

test('a poll of the first page that answers after "Older →" does not draw the first page under the older page', { timeout: 30_000 }, async () => {
  await page.evaluate("location.hash = '#/anomalies'");
  await page.locator('table.anomalies tbody tr').nth(24).waitFor();
  const first = await rowIds();
  assert.equal(first.length, 25);
  // from now on, the first page answers 1.5 s late
  let delayed = 0;
  await page.route(
    (url) => url.pathname.endsWith('/api/anomalies') && url.searchParams.get('limit') === '25' && !url.searchParams.has('cursor'),
    async (route) => {
      delayed++;
      await new Promise((r) => setTimeout(r, 1_500));
      await route.continue().catch(() => undefined);
    },
  );
  try {
    // the next poll (every 4 s) is on its way: go to the older page now
    await page.waitForRequest((r) => r.url().includes('/api/anomalies?') && r.url().includes('limit=25') && !r.url().includes('cursor='), { timeout: 10_000 });
    await page.click('.pager button:has-text("Older")');
    await page.locator('table.anomalies tbody tr[data-id="an-x-59"]').waitFor();
    // the late answer for the first page arrives meanwhile
    await new Promise((r) => setTimeout(r, 2_500));
    assert.ok(delayed >= 1);
    const older = await rowIds();
    assert.equal(older.length, 44 - 25, `rows now: ${older.join(' ')}`);
    assert.ok(older.every((id) => !first.includes(id)), `first-page rows drawn under the older page: ${older.join(' ')}`);
    assert.match((await page.locator('.pager').textContent()) ?? '', /older page/);
  } finally {
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  }
  assert.deepEqual(browser.pageErrors, []);
});

test('a token the analyzer refuses brings the sign-in page back with a message saying so', { timeout: 15_000 }, async () => {
  await page.click('#logout');
  await page.locator('input[name=token]').waitFor();
  await page.fill('input[name=token]', 'not-the-token');
  await page.click('form.login button[type=submit]');
  const alert = page.locator('form.login [role=alert]');
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? '', /did not accept the token/);
  assert.equal(await page.evaluate("sessionStorage.getItem('ratewarden.token')"), null);
  // a good token then signs in, and the message is gone from the next sign-in page
  await page.fill('input[name=token]', ADMIN);
  await page.click('form.login button[type=submit]');
  await page.locator('table.anomalies tbody tr').first().waitFor();
  await page.click('#logout');
  await page.locator('input[name=token]').waitFor();
  assert.equal(await page.locator('form.login [role=alert]').count(), 0);
  assert.deepEqual(browser.pageErrors, []);
});

test("a client page whose list is full (the API's 20 newest) links to all of that client's anomalies; a shorter one does not", { timeout: 20_000 }, async () => {
  const busy = 'ip:203.0.113.9';
  const now = Date.now();
  for (let i = 0; i < 23; i++) server.backend.reports.put(makeReport({ id: `an-busy-${i}`, client: busy, minutesAgo: 70 + i, score: 0.71, kind: 'observe', status: 'open', applied: false, summary: `busy ${i}` }, now));
  await page.fill('input[name=token]', ADMIN);
  await page.click('form.login button[type=submit]');
  await page.locator('table.anomalies tbody tr').first().waitFor();

  await page.evaluate(`location.hash = '#/clients/${encodeURIComponent(busy)}'`);
  const more = page.locator('a[data-more=anomalies]');
  await more.waitFor();
  assert.equal(await page.locator('#main table.grid').last().locator('tbody tr').count(), 20);
  await more.click();
  await page.locator('table.anomalies tbody tr').nth(22).waitFor();
  assert.equal(await page.locator('table.anomalies tbody tr').count(), 23, 'the full list of that client');
  assert.equal(await page.locator('input[name=client]').inputValue(), busy);

  // a client with fewer anomalies than a page has no such link
  await page.evaluate(`location.hash = '#/clients/${encodeURIComponent('ip:198.51.100.1')}'`);
  await page.locator('#main h2', { hasText: 'Anomalies' }).waitFor();
  await page.locator('#main table.grid tbody tr').first().waitFor();
  assert.equal(await page.locator('a[data-more=anomalies]').count(), 0);
  assert.deepEqual(browser.pageErrors, []);
});
