/**
 * The operator UI as an operator meets it, in Debian's Chromium (playwright-core): a login link
 * pasted into a tab that already shows the UI, an answer that is not the operator API's (a proxy's
 * sign-in page in front of the analyzer), an address whose `since` is none of the menu's choices, and
 * a quick double click on "Older →". The control plane is in memory: nothing here is about Redis.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from './chromium.js';
import { MemoryControlPlane } from '../../models/controlPlane.js';
import { ADMIN, makeReport, READONLY, startOperatorServer, type OperatorServer } from '../integration/operator/fixtures.js';

const EXTRA = 60; // with the 4 seeded reports: three pages of 25

let server: OperatorServer;
let plane: MemoryControlPlane;
let browser: Browser;
let page: Page;

before(async () => {
  plane = new MemoryControlPlane();
  server = await startOperatorServer({ plane });
  const now = Date.now();
  for (let i = 0; i < EXTRA; i++) {
    const minutesAgo = 20 + i;
    server.backend.reports.put(makeReport({ id: `an-y-${minutesAgo}`, client: `ip:198.51.100.${i + 1}`, minutesAgo, score: 0.72, kind: 'observe', status: 'open', applied: false, summary: `extra ${minutesAgo}` }, now));
  }
  browser = await launchChromium();
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const rowIds = async () => Promise.all((await page.locator('table.anomalies tbody tr').all()).map((r) => r.getAttribute('data-id')));
const storedToken = async () => page.evaluate("sessionStorage.getItem('ratewarden.token')");
/** A fresh load of the UI signed in as admin, at `hash`, whatever the tests before left. */
async function openAsAdmin(hash: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(`${server.url}/ui/#token=${encodeURIComponent(ADMIN)}`);
  await page.locator('#conn', { hasText: 'connected · admin' }).waitFor();
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
}

test('a login link opened in a tab that already shows the UI signs in with its token and leaves no history entry holding it (it was ignored, and kept in the history)', { timeout: 30_000 }, async () => {
  await page.goto(`${server.url}/ui/`);
  await page.locator('input[name=token]').waitFor();
  // the same page, another fragment: the browser does not load the page again, it only changes the hash
  await page.goto(`${server.url}/ui/#token=${encodeURIComponent(READONLY)}`);
  await page.locator('table.anomalies tbody tr').first().waitFor();
  assert.equal(await storedToken(), READONLY);
  assert.match((await page.locator('#conn').textContent()) ?? '', /connected · readonly/);
  assert.ok(!page.url().includes('token='), `the token stayed in the address bar: ${page.url()}`);
  // signed in as read-only, a login link with the admin token (a demo restarted, another role) takes over
  await page.goto(`${server.url}/ui/#token=${encodeURIComponent(ADMIN)}`);
  await page.locator('#conn', { hasText: 'connected · admin' }).waitFor();
  assert.equal(await storedToken(), ADMIN);
  await page.locator('table.anomalies tbody tr').first().waitFor();
  // no entry of the history holds a token: walk back through it
  for (let i = 0; i < 4; i++) {
    await page.goBack({ waitUntil: 'commit' }).catch(() => null);
    assert.ok(!page.url().includes('token='), `a history entry holds the token: ${page.url()}`);
  }
  assert.deepEqual(browser.pageErrors, []);
});

test('a decision answered 200 by something that is not the operator API (a proxy sign-in page) is an error, never "Dismissed"', { timeout: 30_000 }, async () => {
  await openAsAdmin('#/anomalies/an-observe');
  await page.locator('section.detail[data-id="an-observe"]').waitFor();
  await page.route(
    (url) => url.pathname.endsWith('/api/anomalies/an-observe/dismiss'),
    (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: '<!doctype html><title>Sign in</title><form>proxy sign-in</form>' }),
  );
  try {
    await page.click('button[data-action=dismiss]');
    const toast = page.locator('#toasts .toast').first();
    await toast.waitFor();
    const text = (await toast.textContent()) ?? '';
    assert.equal(await toast.getAttribute('class'), 'toast error', `shown as: ${text}`);
    assert.doesNotMatch(text, /Dismissed/);
    assert.match(text, /not the operator API/);
  } finally {
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  }
  // nothing was dismissed, and the page says so
  assert.equal(server.backend.reports.get('an-observe')?.status, 'open');
  assert.equal(await page.locator('section.detail').getAttribute('data-status'), 'open');
  assert.deepEqual(browser.pageErrors, []);
});

test('an address whose since is none of the menu choices shows that filter, and keeps it when another filter changes', { timeout: 30_000 }, async () => {
  await openAsAdmin('#/anomalies?since=12m');
  // the 4 seeded reports (1–9 min ago), none of the extra ones (20 min ago and older)
  await page.locator('table.anomalies tbody tr').nth(3).waitFor();
  assert.deepEqual(await rowIds(), ['an-attacker', 'an-scraper', 'an-pending', 'an-observe']);
  // the menu shows the filter in force, not "any time"
  assert.equal(await page.locator('select[name=since]').inputValue(), '12m');
  await page.selectOption('select[name=status]', 'open');
  await page.waitForURL(/status=open/);
  assert.match(page.url(), /since=12m/);
  // the new view shows "loading…" before its table: wait for the table of the new filters
  await page.locator('table.anomalies tbody tr[data-id="an-scraper"]').waitFor({ state: 'detached' });
  await page.locator('table.anomalies tbody tr[data-id="an-observe"]').waitFor();
  // the one open report of the last 12 minutes, not the 61 open ones of any time
  assert.deepEqual(await rowIds(), ['an-observe']);
  assert.deepEqual(browser.pageErrors, []);
});

test('a double click on "Older →" moves one page, and "← Newer" then goes back to the newest page (it repeated a page)', { timeout: 30_000 }, async () => {
  await openAsAdmin('#/anomalies');
  await page.locator('table.anomalies tbody tr').nth(24).waitFor();
  const first = await rowIds();
  // the older page answers late, so both clicks land before it is drawn
  await page.route(
    (url) => url.pathname.endsWith('/api/anomalies') && url.searchParams.get('limit') === '25' && url.searchParams.has('cursor'),
    async (route) => {
      await new Promise((r) => setTimeout(r, 600));
      await route.continue().catch(() => undefined);
    },
  );
  let second: (string | null)[];
  try {
    await page.dblclick('.pager button:has-text("Older")');
    await page.locator('.pager', { hasText: 'older page' }).waitFor();
    await page.locator(`table.anomalies tbody tr[data-id="${first[0]}"]`).waitFor({ state: 'detached' });
    await new Promise((r) => setTimeout(r, 1_500));
    second = await rowIds();
    assert.equal(second.length, 25);
    assert.ok(second.every((id) => !first.includes(id)));
    await page.click('.pager button:has-text("Newer")');
    await page.locator('.pager', { hasText: 'newest' }).waitFor({ timeout: 5_000 });
  } finally {
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  }
  await page.locator(`table.anomalies tbody tr[data-id="${first[0]}"]`).waitFor();
  assert.deepEqual(await rowIds(), first);
  assert.deepEqual(browser.pageErrors, []);
});

test('a decision refused because another operator decided first shows the report as it now is, and keeps the note typed', { timeout: 30_000 }, async () => {
  await openAsAdmin('#/anomalies/an-scraper');
  await page.locator('section.detail[data-id="an-scraper"][data-status="actioned"]').waitFor();
  // meanwhile, someone else dismisses it
  await server.backend.act('an-scraper', 'dismiss', 'bob (admin)', 'a partner crawl');
  await page.fill('input[name=note]', 'confirmed with the SOC');
  await page.click('button[data-action=confirm]');
  const toast = page.locator('#toasts .toast.error');
  await toast.waitFor();
  assert.match((await toast.textContent()) ?? '', /cannot confirm an anomaly that is dismissed/);
  // the page shows the dismissal at once (the poll waits while a note is typed), the note kept for another decision
  await page.locator('section.detail[data-id="an-scraper"][data-status="dismissed"]').waitFor({ timeout: 5_000 });
  assert.match((await page.locator('ol.history').textContent()) ?? '', /dismissed by bob \(admin\)/);
  assert.ok(await page.locator('button[data-action=confirm]').isDisabled());
  assert.equal(await page.locator('input[name=note]').inputValue(), 'confirmed with the SOC');
  assert.deepEqual(browser.pageErrors, []);
});

test('a failed poll of the summary strip over the anomaly list says the counts are not known, not the old ones as if current', { timeout: 40_000 }, async () => {
  await openAsAdmin('#/anomalies');
  await page.locator('.strip a.stat').first().waitFor();
  assert.equal(await page.locator('.strip a.stat').count(), 4);
  // from now on the load view answers 500 (the list itself still answers)
  await page.route(
    (url) => url.pathname.endsWith('/api/load'),
    (route) => route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'internal', title: 'load unavailable' }) }),
  );
  try {
    await page.locator('.strip .stat.stale').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('.strip a.stat').count(), 0, 'the old counts are still drawn as what is in force');
    assert.match((await page.locator('.strip').textContent()) ?? '', /not known: load unavailable/);
    assert.ok((await page.locator('table.anomalies tbody tr').count()) > 0, 'the list still drawn');
  } finally {
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  }
  await page.locator('.strip a.stat').first().waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('.strip .stat.stale').count(), 0);
  assert.deepEqual(browser.pageErrors, []);
});

test('a failed poll of the controls page shows the error for the overrides too, not the old rows as if current (only the blocks said so)', { timeout: 40_000 }, async () => {
  const field = '*|ip:192.0.2.44';
  await plane.write('override', field, { multiplier: 0.5, until: Date.now() + 600_000, reason: 'stale-check' });
  await openAsAdmin('#/controls');
  const row = page.locator(`table.overrides tbody tr[data-field="${field}"]`);
  await row.waitFor();
  // from now on the overrides answer 500
  await page.route(
    (url) => url.pathname.endsWith('/api/overrides'),
    (route) => route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'internal', title: 'overrides unavailable' }) }),
  );
  try {
    // the next poll (every 5 s) fails
    await page.locator('#main .error-box').first().waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('table.overrides').count(), 0, 'the old overrides are still drawn as the live state');
    assert.equal(await page.locator('#main .error-box').count(), 2, 'both sections say the poll failed');
    assert.match((await page.locator('#main .error-box').last().textContent()) ?? '', /overrides unavailable/);
  } finally {
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  }
  // the next working poll draws both sections again
  await row.waitFor({ timeout: 15_000 });
  await page.locator('table.blocks tbody tr').first().waitFor();
  assert.equal(await page.locator('#main .error-box').count(), 0);
  assert.deepEqual(browser.pageErrors, []);
});
