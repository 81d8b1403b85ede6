// Active blocks and overrides with time left ticking, one-click removal, and a form to block a
// client by hand.
import { h, replace, toast } from '../dom.js';
import { api } from '../api.js';
import { fmtTime } from '../format.js';
import { anomalyLink, clientLink, empty, errorBox, timeLeft } from '../widgets.js';

export function render(main, _params, ctx) {
  const writable = ctx.role === 'admin';
  const blocksBox = h('div', null, h('div', { class: 'loading' }, 'loading…'));
  const overridesBox = h('div');
  const client = h('input', { name: 'client', placeholder: 'client key, e.g. ip:203.0.113.7', required: true, size: 34, 'aria-label': 'client to block' });
  const ttl = h('input', { name: 'ttl', value: '10m', size: 6, pattern: '\\d+(\\.\\d+)?(ms|s|m|h|d)', 'aria-label': 'ttl', title: 'duration: 90s, 10m, 2h' });
  const reason = h('input', { name: 'reason', placeholder: 'reason', size: 28, 'aria-label': 'reason' });
  const addForm = h(
    'form',
    {
      class: 'inline-form card',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api('blocks', { method: 'POST', body: { client: client.value.trim(), ttl: ttl.value.trim(), ...(reason.value.trim() ? { reason: reason.value.trim() } : {}) } });
          toast(`Blocked ${client.value.trim()}`, 'ok');
          client.value = '';
          load();
        } catch (err) {
          toast(err.describe ? err.describe() : String(err), 'error');
        }
      },
    },
    h('strong', null, 'Block a client'),
    client,
    'for',
    ttl,
    reason,
    h('button', { type: 'submit', class: 'warn', disabled: !writable }, 'Block'),
  );

  replace(main, h('section', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', null, 'Blocks & overrides')), h('h2', null, 'Blocks'), blocksBox, writable ? addForm : null, h('h2', null, 'Overrides'), overridesBox));

  const remove = (label, request) => async (e) => {
    e.currentTarget.disabled = true;
    try {
      await request();
      toast(label, 'ok');
    } catch (err) {
      toast(err.describe ? err.describe() : String(err), 'error');
    }
    load();
  };

  // only the newest request draws: a poll sent before an Unblock must not answer after it and
  // bring the row back
  let generation = 0;
  async function load() {
    const mine = ++generation;
    try {
      const [blocks, overrides] = await Promise.all([api('blocks'), api('overrides')]);
      if (mine !== generation) return;
      replace(
        blocksBox,
        blocks.items.length
          ? h(
              'table',
              { class: 'grid blocks' },
              h('thead', null, h('tr', null, ['Client', 'Reason', 'Anomaly', 'Until', 'Left', ''].map((t) => h('th', null, t)))),
              h(
                'tbody',
                null,
                blocks.items.map((b) =>
                  h(
                    'tr',
                    { dataset: { client: b.client } },
                    h('td', null, clientLink(b.client)),
                    h('td', null, b.reason),
                    h('td', null, b.anomalyId ? anomalyLink(b.anomalyId) : '—'),
                    h('td', null, fmtTime(b.until)),
                    h('td', null, timeLeft(b.until, b.remainingMs)),
                    h('td', null, h('button', { type: 'button', class: 'warn small', 'data-action': 'unblock', disabled: !writable, onclick: remove(`Unblocked ${b.client}`, () => api('blocks', { method: 'DELETE', query: { client: b.client } })) }, 'Unblock')),
                  ),
                ),
              ),
            )
          : empty('No client is blocked.'),
      );
      replace(
        overridesBox,
        overrides.items.length
          ? h(
              'table',
              { class: 'grid overrides' },
              h('thead', null, h('tr', null, ['Rule', 'Client', 'Change', 'Reason', 'Anomaly', 'Left', ''].map((t) => h('th', null, t)))),
              h(
                'tbody',
                null,
                overrides.items.map((o) =>
                  h(
                    'tr',
                    { dataset: { field: o.field } },
                    h('td', { class: 'mono' }, o.rule),
                    h('td', null, o.client === '*' ? '* (everyone)' : clientLink(o.client)),
                    h('td', null, o.multiplier !== undefined ? `×${o.multiplier}` : `limit ${o.limit}`),
                    h('td', null, o.reason),
                    h('td', null, o.anomalyId ? anomalyLink(o.anomalyId) : '—'),
                    h('td', null, timeLeft(o.until, o.remainingMs)),
                    h('td', null, h('button', { type: 'button', class: 'small', 'data-action': 'remove-override', disabled: !writable, onclick: remove(`Removed override ${o.field}`, () => api('overrides', { method: 'DELETE', query: { rule: o.rule, client: o.client } })) }, 'Remove')),
                  ),
                ),
              ),
            )
          : empty('No overrides in force.'),
      );
    } catch (err) {
      // both sections: the overrides kept their old rows, read as the live state
      if (mine === generation) {
        replace(blocksBox, errorBox(err));
        replace(overridesBox, errorBox(err));
      }
    }
  }

  load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
