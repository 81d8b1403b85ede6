// The anomaly list: filters (status, client, since), newest first, paged by cursor, refreshed
// every few seconds while looking at the first page.
import { h, replace } from '../dom.js';
import { api } from '../api.js';
import { fmtAgo, fmtTime } from '../format.js';
import { actionLabel, clientLink, detectorChips, empty, errorBox, scoreBar, statusChip } from '../widgets.js';

const STATUSES = ['', 'open', 'pending', 'actioned', 'confirmed', 'dismissed', 'expired'];
const SINCE = [
  ['', 'any time'],
  ['15m', 'last 15 min'],
  ['1h', 'last hour'],
  ['24h', 'last 24 h'],
  ['7d', 'last 7 days'],
];
const PAGE = 25;
/** Ids already shown in this tab, so anomalies that arrive while watching are highlighted. */
const seen = new Set();

export function render(main, params, ctx) {
  const filters = { status: params.query.get('status') || '', client: params.query.get('client') || '', since: params.query.get('since') || '' };
  const cursors = [];
  let cursor = params.query.get('cursor') || '';
  let timer = null;
  let primed = false; // the first load of a page view highlights nothing

  const status = h('select', { name: 'status', 'aria-label': 'status' }, STATUSES.map((s) => h('option', { value: s, selected: s === filters.status }, s || 'any status')));
  const client = h('input', { name: 'client', type: 'search', placeholder: 'client key, e.g. apiKey:9f86d081884c7d65', value: filters.client, size: 34, 'aria-label': 'client' });
  // a `since` of the address that is none of the menu's (a shared link, `?since=30m`) is shown, and
  // kept by the next change of another filter, not shown as "any time" and then dropped
  const sinceChoices = SINCE.some(([v]) => v === filters.since) ? SINCE : [...SINCE, [filters.since, `since ${filters.since}`]];
  const since = h('select', { name: 'since', 'aria-label': 'since' }, sinceChoices.map(([v, t]) => h('option', { value: v, selected: v === filters.since }, t)));
  const apply = () => {
    const q = new URLSearchParams();
    if (status.value) q.set('status', status.value);
    if (client.value.trim()) q.set('client', client.value.trim());
    if (since.value) q.set('since', since.value);
    ctx.go(`#/anomalies${q.size ? '?' + q : ''}`);
  };
  status.addEventListener('change', apply);
  since.addEventListener('change', apply);
  const form = h('form', { class: 'filters', onsubmit: (e) => (e.preventDefault(), apply()) }, status, client, since, h('button', { type: 'submit' }, 'Filter'));

  const strip = h('div', { class: 'strip' });
  const body = h('div', { class: 'list-body' }, h('div', { class: 'loading' }, 'loading…'));
  const pager = h('div', { class: 'pager' });
  replace(main, h('section', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', null, 'Anomalies'), form), strip, body, pager));

  /** At a glance: what is in force right now (blocks, overrides, load), linking to the details. */
  let glanceGeneration = 0;
  async function glance() {
    const mine = ++glanceGeneration;
    try {
      const [recent, blocks, overrides, loadView] = await Promise.all([api('anomalies', { query: { since: '1h', limit: 200 } }), api('blocks'), api('overrides'), api('load')]);
      const active = (items) => items.filter((x) => x.remainingMs > 0).length;
      if (mine !== glanceGeneration) return;
      const tight = loadView.services.filter((s) => s.multiplier < 1);
      const stat = (value, label, href, hot) => h('a', { class: `stat${hot ? ' hot' : ''}`, href }, h('span', { class: 'value' }, String(value)), h('span', { class: 'label' }, label));
      replace(
        strip,
        stat(recent.items.length + (recent.next ? '+' : ''), 'anomalies in the last hour', '#/anomalies?since=1h', recent.items.length > 0),
        stat(active(blocks.items), 'clients blocked (403)', '#/controls', active(blocks.items) > 0),
        stat(active(overrides.items), 'overrides in force', '#/controls', active(overrides.items) > 0),
        stat(tight.length ? tight.map((s) => `×${s.multiplier}`).join(' ') : '×1', tight.length ? `load: ${tight.map((s) => s.service).join(', ')}` : 'load: full limits', '#/load', tight.length > 0),
      );
    } catch (err) {
      // the counts of the last good poll would read as what is in force now: say they are not known
      if (mine !== glanceGeneration) return;
      replace(strip, h('span', { class: 'stat stale', role: 'status' }, h('span', { class: 'label' }, `What is in force now is not known: ${err.describe ? err.describe() : String(err)}`)));
    }
  }

  // Only the newest request draws: a poll of the first page sent just before a click on
  // "Older →" could answer after the older page and draw the first page under the older page's pager.
  let generation = 0;
  async function load() {
    const mine = ++generation;
    glance();
    try {
      const page = await api('anomalies', { query: { ...filters, limit: PAGE, cursor } });
      if (mine === generation) draw(page);
    } catch (err) {
      if (mine === generation) {
        replace(body, errorBox(err));
        drawPager(null);
      }
    }
  }

  function draw(page) {
    if (page.items.length === 0) {
      replace(body, empty(cursor ? 'No older anomalies.' : 'No anomalies match. The analyzer reports here as soon as a client leaves its baseline.'));
    } else {
      const now = Date.now();
      const rows = page.items.map((r) =>
        h(
          'tr',
          { class: `row status-${r.status}${primed && !seen.has(r.id) ? ' new' : ''}`, dataset: { id: r.id }, onclick: (e) => (e.target.closest('a') ? null : ctx.go(`#/anomalies/${encodeURIComponent(r.id)}`)) },
          h('td', { title: fmtTime(r.ts) }, h('a', { href: `#/anomalies/${encodeURIComponent(r.id)}`, class: 'when' }, fmtAgo(r.ts, now))),
          h('td', null, clientLink(r.client), r.tier ? h('small', { class: 'tier' }, r.tier) : null),
          h('td', null, scoreBar(r.score)),
          h('td', null, detectorChips(r.detectors)),
          h('td', null, actionLabel(r.action)),
          h('td', null, statusChip(r.status)),
          h('td', { class: 'summary' }, r.summary),
        ),
      );
      if (seen.size > 5000) seen.clear();
      for (const r of page.items) seen.add(r.id);
      primed = true;
      replace(
        body,
        h(
          'table',
          { class: 'grid anomalies' },
          h('thead', null, h('tr', null, ['When', 'Client', 'Score', 'Detectors', 'Action', 'Status', 'Why'].map((t) => h('th', null, t)))),
          h('tbody', null, rows),
        ),
      );
    }
    drawPager(page.next);
  }

  /** `next`: the older page's cursor, null when there is none (or the page did not load). */
  function drawPager(next) {
    // one move per drawn pager: a second click before the next page is drawn (a double click)
    // pushed the same cursor twice, and "← Newer" then showed the same older page again
    const drawn = cursor;
    const move = (to) => () => {
      if (cursor !== drawn) return;
      to();
      load();
    };
    replace(
      pager,
      h('button', { type: 'button', disabled: cursors.length === 0 && !cursor, onclick: move(() => (cursor = cursors.pop() ?? '')) }, '← Newer'),
      h('span', { class: 'muted' }, cursor ? 'older page' : 'newest'),
      h('button', { type: 'button', disabled: !next, onclick: move(() => (cursors.push(cursor), (cursor = next))) }, 'Older →'),
    );
  }

  load();
  timer = setInterval(() => {
    if (!cursor && document.visibilityState === 'visible') load();
  }, 4000);
  return () => clearInterval(timer);
}
