// Backend load: the multiplier the load controller applies per service, now and over time.
import { h, replace } from '../dom.js';
import { api } from '../api.js';
import { loadChart } from '../chart.js';
import { fmtAgo, fmtNum, fmtTime } from '../format.js';
import { empty, errorBox, timeLeft } from '../widgets.js';

export function render(main) {
  let destroy = null;
  const cards = h('div', { class: 'cards' });
  const chartBox = h('div', { class: 'chart', id: 'load-chart' });
  replace(main, h('section', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', null, 'Load')), h('p', { class: 'muted' }, 'Under backend load the analyzer scales every rule of a service by a multiplier (1 = no restriction).'), cards, h('h2', null, 'Multiplier over time'), chartBox));

  async function load() {
    try {
      const view = await api('load');
      replace(
        cards,
        view.services.length
          ? view.services.map((s) =>
              h(
                'div',
                { class: `card load-card ${s.multiplier < 1 ? 'tight' : ''}`, dataset: { service: s.service } },
                h('div', { class: 'label' }, s.service),
                h('div', { class: 'big' }, `×${fmtNum(s.multiplier)}`),
                h('div', null, s.reason),
                h('small', { class: 'muted', title: fmtTime(s.since) }, `since ${fmtAgo(s.since)}`),
                s.until ? h('small', null, ' · refreshes within ', timeLeft(s.until, s.until - view.now)) : null,
                s.tiers ? h('div', { class: 'tiers' }, Object.entries(s.tiers).map(([t, m]) => h('span', { class: 'chip' }, `${t} ×${fmtNum(m)}`))) : null,
              ),
            )
          : empty('No load multiplier is in force: every service runs at its full limits.'),
      );
      destroy?.();
      destroy = null;
      if (view.history.length) destroy = loadChart(chartBox, view.history, view.now);
      else replace(chartBox, empty('No load changes recorded yet.'));
    } catch (err) {
      replace(cards, errorBox(err));
    }
  }

  load();
  const timer = setInterval(load, 10_000);
  return () => {
    clearInterval(timer);
    destroy?.();
  };
}
