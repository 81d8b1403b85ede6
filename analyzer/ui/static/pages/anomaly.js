// One anomaly: what happened (chart of the client's rate against its baseline band, with the
// window and the detection marked), why (features against baseline), what was done (action,
// block/overrides, history), and the one-click decisions: confirm, dismiss, approve, unblock.
import { h, replace, toast } from '../dom.js';
import { api, paths } from '../api.js';
import { seriesChart } from '../chart.js';
import { fmtAgo, fmtNum, fmtScore, fmtTime } from '../format.js';
import { actionLabel, clientLink, detectorChips, errorBox, scoreBar, statusChip, timeLeft } from '../widgets.js';

const CAN = {
  confirm: ['open', 'actioned', 'expired'],
  dismiss: ['open', 'pending', 'actioned', 'confirmed', 'expired'],
  approve: ['pending'],
};

export function render(main, params, ctx) {
  const id = params.id;
  let destroyChart = null;
  let busy = false;
  let noteInput = null;
  replace(main, h('div', { class: 'loading' }, 'loading…'));

  // only the newest request draws: a poll sent before a decision must not answer after it and show
  // the status from before the decision
  let generation = 0;
  async function load() {
    const mine = ++generation;
    try {
      const detail = await api(paths.anomaly(id));
      if (mine === generation) draw(detail);
    } catch (err) {
      if (mine === generation) replace(main, h('section', { class: 'page' }, h('p', null, h('a', { href: '#/anomalies' }, '← Anomalies')), errorBox(err)));
    }
  }

  async function run(label, fn) {
    if (busy) return;
    busy = true;
    try {
      await fn();
      toast(label, 'ok');
      if (noteInput) noteInput.value = '';
      await load();
    } catch (err) {
      toast(err.describe ? err.describe() : String(err), 'error');
      // refused because the report changed meanwhile (another operator, the analyzer): show it as it
      // is now — the poll waits while a note is typed, so the stale status and buttons stayed
      if (err.status === 409) await load();
    } finally {
      busy = false;
    }
  }

  function draw(detail) {
    const { report: r, evidence, block, overrides } = detail;
    destroyChart?.();
    destroyChart = null;
    // a redraw keeps what the operator typed (a decision clears it once it succeeded)
    const note = h('input', { type: 'text', name: 'note', placeholder: 'note (optional)', maxlength: 1024, 'aria-label': 'note', value: noteInput?.value || null });
    noteInput = note;
    const decide = (action) => () =>
      run(`${action === 'dismiss' ? 'Dismissed' : action === 'confirm' ? 'Confirmed' : 'Approved'} ${r.id}`, () =>
        api(`${paths.anomaly(r.id)}/${action}`, { method: 'POST', body: note.value.trim() ? { note: note.value.trim() } : {} }),
      );
    const writable = ctx.role === 'admin';
    const button = (action, label, cls, title) =>
      h('button', { type: 'button', class: cls, 'data-action': action, disabled: !writable || !CAN[action].includes(r.status), title, onclick: decide(action) }, label);
    const unblock = block
      ? h(
          'button',
          {
            type: 'button',
            class: 'warn',
            'data-action': 'unblock',
            disabled: !writable,
            title: `lift the block on ${r.client} now`,
            onclick: () => run(`Unblocked ${r.client}`, () => api('blocks', { method: 'DELETE', query: { client: r.client, note: note.value.trim() || undefined } })),
          },
          'Unblock',
        )
      : null;

    const chartBox = h('div', { class: 'chart', id: 'series-chart' });
    const features = evidence.features;
    const explanation = features.length
      ? h(
          'table',
          { class: 'grid explanation' },
          h('thead', null, h('tr', null, ['Feature', 'Observed', 'Baseline', 'Spread', 'z', 'Detector', 'Explanation'].map((t) => h('th', null, t)))),
          h(
            'tbody',
            null,
            features.map((f) =>
              h(
                'tr',
                { class: Math.abs(f.z) >= 3 ? 'hot' : null },
                h('td', { class: 'mono' }, f.feature),
                h('td', { class: 'num' }, fmtNum(f.observed)),
                h('td', { class: 'num' }, fmtNum(f.baseline)),
                h('td', { class: 'num' }, fmtNum(f.spread)),
                h('td', { class: 'num z' }, fmtNum(f.z, 1)),
                h('td', null, f.detector || '—'),
                h('td', null, f.text || ''),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No feature explanation in this report.');

    replace(
      main,
      h(
        'section',
        { class: 'page detail', dataset: { id: r.id, status: r.status } },
        h('p', { class: 'crumbs' }, h('a', { href: '#/anomalies' }, '← Anomalies')),
        h(
          'div',
          { class: 'page-head' },
          h('h1', null, 'Anomaly ', h('span', { class: 'mono' }, r.id)),
          statusChip(r.status),
        ),
        h('p', { class: 'summary lead' }, r.summary),
        h(
          'div',
          { class: 'facts card' },
          fact('Client', clientLink(r.client)),
          fact('Tier', r.tier || '—'),
          fact('Service', r.service || '—'),
          fact('Detected', h('span', { title: fmtTime(r.ts) }, fmtAgo(r.ts))),
          fact('Score', scoreBar(r.score)),
          fact('Detectors', detectorChips(r.detectors)),
          fact('Action', actionLabel(r.action)),
          fact('Window', `${fmtTime(r.window.start)} → ${fmtTime(r.window.end)}`),
          fact('Block', block ? h('span', null, 'blocked, ', timeLeft(block.until, block.remainingMs), ' left') : 'none'),
          fact('Overrides', overrides.length ? overrides.map((o) => h('div', { class: 'mono' }, `${o.rule} ${o.multiplier !== undefined ? '×' + o.multiplier : 'limit ' + o.limit} `, timeLeft(o.until, o.remainingMs))) : 'none'),
        ),
        h(
          'div',
          { class: 'decide card' },
          h('div', { class: 'buttons' }, button('confirm', 'Confirm', 'primary', 'a true positive: keep the action'), button('dismiss', 'Dismiss', 'warn', 'a false positive: lift its block/override'), r.status === 'pending' ? button('approve', 'Approve action', 'primary', 'apply the pending action') : null, unblock),
          note,
          writable ? null : h('small', { class: 'muted' }, 'read-only token: decisions are disabled'),
        ),
        h('h2', null, 'Rate against baseline'),
        evidence.series ? chartBox : h('p', { class: 'muted' }, 'The analyzer holds no series for this client any more.'),
        h('h2', null, 'Why'),
        explanation,
        h('h2', null, 'History'),
        h(
          'ol',
          { class: 'history' },
          r.history.map((e) => h('li', null, h('span', { class: 'when', title: fmtTime(e.ts) }, fmtTime(e.ts)), ' ', h('strong', null, e.what), ' by ', h('span', { class: 'who' }, e.who), e.note ? h('q', null, e.note) : null)),
        ),
        r.historyDropped ? h('p', { class: 'muted' }, `${fmtNum(r.historyDropped)} older entries were dropped to keep the history bounded (never the first one, nor the earliest that put something in force).`) : null,
      ),
    );
    if (evidence.series) destroyChart = seriesChart(chartBox, evidence.series, { window: r.window, at: r.ts });
  }

  load();
  // follow a live episode (new windows, the analyzer's own status changes), but never under an operator typing a note
  const timer = setInterval(() => {
    if (busy || document.visibilityState !== 'visible' || (noteInput && (noteInput.value || document.activeElement === noteInput))) return;
    load();
  }, 10_000);
  return () => {
    clearInterval(timer);
    destroyChart?.();
  };
}

function fact(label, value) {
  return h('div', { class: 'fact' }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
}

export { fmtScore };
