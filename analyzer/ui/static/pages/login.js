import { h, replace } from '../dom.js';
import { token } from '../api.js';

export function render(main, _params, ctx) {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', placeholder: 'RW_ADMIN_TOKEN or RW_READONLY_TOKEN', required: true, 'aria-label': 'operator token' });
  const form = h(
    'form',
    {
      class: 'login card',
      onsubmit: (e) => {
        e.preventDefault();
        token.set(input.value.trim());
        ctx.go('#/anomalies');
      },
    },
    h('h1', null, 'Sign in'),
    ctx.loginMessage ? h('div', { class: 'error-box', role: 'alert' }, ctx.loginMessage) : null,
    h('p', null, 'Paste the operator token. It is kept for this tab only (sessionStorage) and sent as a bearer header.'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  ctx.loginMessage = null;
  replace(main, form);
  input.focus();
}
