// One client: its baseline, its recent series against the band, what is in force and its anomalies.
import { h, replace, toast } from '../dom.js';
import { api, paths } from '../api.js';
import { seriesChart } from '../chart.js';
import { fmtAgo, fmtNum, fmtTime } from '../format.js';
import { anomalyLink, empty, errorBox, scoreBar, statusChip, timeLeft } from '../widgets.js';

/** How many anomalies GET /api/clients/:key lists (its newest). */
const CLIENT_ANOMALIES = 20;

export function render(main, params, ctx) {
  const key = params.key;
  let destroy = null;
  replace(main, h('div', { class: 'loading' }, 'loading…'));

  async function load() {
    let view;
    try {
      view = await api(paths.client(key));
    } catch (err) {
      replace(main, h('section', { class: 'page' }, h('h1', { class: 'mono' }, key), errorBox(err)));
      return;
    }
    destroy?.();
    destroy = null;
    const chartBox = h('div', { class: 'chart', id: 'client-chart' });
    const unblock = view.block
      ? h(
          'button',
          {
            type: 'button',
            class: 'warn',
            'data-action': 'unblock',
            disabled: ctx.role !== 'admin',
            onclick: async () => {
              try {
                await api('blocks', { method: 'DELETE', query: { client: key } });
                toast(`Unblocked ${key}`, 'ok');
              } catch (err) {
                toast(err.describe ? err.describe() : String(err), 'error');
              }
              load();
            },
          },
          'Unblock',
        )
      : null;
    replace(
      main,
      h(
        'section',
        { class: 'page' },
        h('div', { class: 'page-head' }, h('h1', null, 'Client ', h('span', { class: 'mono' }, key)), view.tier ? h('span', { class: 'chip' }, view.tier) : null),
        h('div', { class: 'card facts' }, h('div', { class: 'fact' }, h('span', { class: 'label' }, 'Block'), h('span', { class: 'value' }, view.block ? h('span', null, view.block.reason, ' — ', timeLeft(view.block.until, view.block.remainingMs), ' left ') : 'none', unblock)), h('div', { class: 'fact' }, h('span', { class: 'label' }, 'Overrides'), h('span', { class: 'value' }, view.overrides.length ? view.overrides.map((o) => h('div', { class: 'mono' }, `${o.rule} ${o.multiplier !== undefined ? '×' + o.multiplier : 'limit ' + o.limit} `, timeLeft(o.until, o.remainingMs))) : 'none'))),
        h('h2', null, 'Recent series'),
        view.series ? chartBox : empty('The analyzer holds no recent series for this client.'),
        h('h2', null, 'Baseline'),
        view.baseline && view.baseline.features.length
          ? h(
              'table',
              { class: 'grid' },
              h('thead', null, h('tr', null, ['Feature', 'Mean', 'Spread', 'Observations'].map((t) => h('th', null, t)))),
              h('tbody', null, view.baseline.features.map((f) => h('tr', null, h('td', { class: 'mono' }, f.feature), h('td', { class: 'num' }, fmtNum(f.mean)), h('td', { class: 'num' }, fmtNum(f.spread)), h('td', { class: 'num' }, f.n ?? '—')))),
            )
          : empty(view.baseline?.warm === false ? 'The baseline is still warming up.' : 'No baseline learned yet.'),
        h('h2', null, 'Anomalies'),
        view.anomalies.length
          ? h(
              'table',
              { class: 'grid' },
              h('thead', null, h('tr', null, ['When', 'Id', 'Score', 'Status', 'Why'].map((t) => h('th', null, t)))),
              h('tbody', null, view.anomalies.map((r) => h('tr', null, h('td', { title: fmtTime(r.ts) }, fmtAgo(r.ts)), h('td', null, anomalyLink(r.id)), h('td', null, scoreBar(r.score)), h('td', null, statusChip(r.status)), h('td', null, r.summary)))),
            )
          : empty('No anomalies for this client.'),
        // the API answers the newest CLIENT_ANOMALIES: a full page may not be all of them
        view.anomalies.length >= CLIENT_ANOMALIES
          ? h('p', { class: 'more' }, h('a', { href: `#/anomalies?client=${encodeURIComponent(key)}`, 'data-more': 'anomalies' }, `The ${view.anomalies.length} newest are shown: all of this client's anomalies →`))
          : null,
      ),
    );
    if (view.series) destroy = seriesChart(chartBox, view.series, {});
  }

  load();
  return () => destroy?.();
}
