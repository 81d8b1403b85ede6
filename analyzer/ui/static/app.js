// The operator UI: a hash router over a few pages, a header that shows whether the analyzer answers
// and as whom, and a once-a-second tick for every "time left" on screen.
import { api, events, safeDecode, takeTokenFromFragment, token } from './api.js';
import { tickTimeLeft } from './widgets.js';
import { h, replace } from './dom.js';
import * as anomalies from './pages/anomalies.js';
import * as anomaly from './pages/anomaly.js';
import * as controls from './pages/controls.js';
import * as load from './pages/load.js';
import * as client from './pages/client.js';
import * as login from './pages/login.js';

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const connText = document.getElementById('conn-text');
const logout = document.getElementById('logout');

const ctx = {
  role: null,
  who: null,
  /** Shown once on the sign-in page (why it is shown), then cleared. */
  loginMessage: null,
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

const ROUTES = [
  [/^#\/anomalies\/([^?]+)$/, anomaly, (m) => ({ id: safeDecode(m[1]) }), 'anomalies'],
  [/^#\/anomalies(?:\?(.*))?$/, anomalies, () => ({}), 'anomalies'],
  [/^#\/controls$/, controls, () => ({}), 'controls'],
  [/^#\/load$/, load, () => ({}), 'load'],
  [/^#\/clients\/([^?]+)$/, client, (m) => ({ key: safeDecode(m[1]) }), 'anomalies'],
  [/^#\/login$/, login, () => ({}), ''],
];

let cleanup = null;

function setConn(state, text) {
  conn.dataset.state = state;
  connText.textContent = text;
}

events.addEventListener('connection', (e) => {
  const { state } = e.detail;
  if (state === 'online') setConn('online', ctx.role ? `connected · ${ctx.who}` : 'connected');
  else if (state === 'offline') setConn('offline', 'analyzer unreachable');
  else if (state === 'unauthorized') setConn('unauthorized', 'not signed in');
  else if (state === 'disabled') setConn('offline', 'operator API disabled (RW_ADMIN_TOKEN unset)');
});

events.addEventListener('unauthorized', () => {
  // say why the sign-in page is back: a token was sent and refused (mistyped, or changed since)
  if (token.get()) ctx.loginMessage = 'The analyzer did not accept the token: check it (RW_ADMIN_TOKEN or RW_READONLY_TOKEN) and sign in again.';
  token.clear();
  ctx.role = null;
  logout.hidden = true;
  if (!location.hash.startsWith('#/login')) location.hash = '#/login';
});

logout.addEventListener('click', () => {
  token.clear();
  ctx.role = null;
  logout.hidden = true;
  location.hash = '#/login';
});

async function whoami() {
  if (!token.get()) return false;
  try {
    const me = await api('whoami');
    ctx.role = me.role;
    ctx.who = me.who;
    logout.hidden = false;
    setConn('online', `connected · ${me.who}`);
    return true;
  } catch {
    return false;
  }
}

async function route() {
  cleanup?.();
  cleanup = null;
  const current = location.hash || '#/anomalies';
  if (current !== '#/login' && !ctx.role) {
    if (!token.get()) {
      location.hash = '#/login'; // hashchange routes again
      return;
    }
    if (!(await whoami())) {
      // a wrong token was cleared by the 'unauthorized' handler, which went to #/login
      if (token.get()) replace(main, h('div', { class: 'error-box' }, 'The analyzer does not answer. ', h('button', { type: 'button', onclick: route }, 'Retry')));
      return;
    }
  }
  for (const [re, page, params, nav] of ROUTES) {
    const m = re.exec(current);
    if (!m) continue;
    const query = new URLSearchParams(current.includes('?') ? current.slice(current.indexOf('?') + 1) : '');
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
    // each view renders into a fresh element: a late answer for a page already left lands in a detached node
    const view = document.createElement('div');
    replace(main, view);
    cleanup = page.render(view, { ...params(m), query }, ctx) || null;
    return;
  }
  location.hash = '#/anomalies';
}

takeTokenFromFragment();
// a login link opened in a tab that already shows the UI only changes the fragment: take its token
// (it replaces the one in use, and leaves the history) before routing, as a fresh load does
window.addEventListener('hashchange', () => {
  if (takeTokenFromFragment()) ctx.role = null;
  route();
});
route();
setInterval(() => tickTimeLeft(main), 1000);
// keep the header honest even on pages that do not poll
setInterval(() => {
  if (token.get() && document.visibilityState === 'visible') whoami();
}, 15_000);
