// Small pieces shared by the pages: status chips, score bars, action labels, client links.
import { h } from './dom.js';
import { fmtDuration, fmtScore } from './format.js';

export function statusChip(status) {
  return h('span', { class: `chip status-${status}`, 'data-status': status }, status);
}

export function scoreBar(score) {
  const pct = Math.round(Math.max(0, Math.min(1, score)) * 100);
  const level = score >= 0.9 ? 'high' : score >= 0.7 ? 'mid' : 'low';
  return h('span', { class: `score ${level}`, title: `fused score ${fmtScore(score)}` }, h('span', { class: 'bar' }, h('span', { class: 'fill', style: { width: `${pct}%` } })), h('span', { class: 'num' }, fmtScore(score)));
}

export function detectorChips(detectors) {
  const entries = Object.entries(detectors || {}).sort((a, b) => b[1] - a[1]);
  return h('span', { class: 'detectors' }, entries.map(([name, s]) => h('span', { class: 'chip detector', title: `${name}: ${fmtScore(s)}` }, name)));
}

export function actionLabel(action) {
  if (!action) return '—';
  let text = action.kind;
  if (action.kind === 'tighten' && action.multiplier !== undefined) text += ` ×${action.multiplier}`;
  if (action.ttlMs && action.kind !== 'observe') text += ` · ${fmtDuration(action.ttlMs)}`;
  return h('span', { class: `action action-${action.kind}${action.applied ? ' applied' : ''}` }, text, action.kind !== 'observe' ? h('small', null, action.applied ? ' applied' : ' not applied') : null);
}

export function clientLink(client) {
  return h('a', { class: 'client mono', href: `#/clients/${encodeURIComponent(client)}`, title: client }, client);
}

export function anomalyLink(id, text = id) {
  return h('a', { class: 'mono', href: `#/anomalies/${encodeURIComponent(id)}` }, text);
}

/**
 * A live countdown cell: the app ticks every element with data-until once a second. Pass the
 * server's `remainingMs` when known, so a browser clock that is off does not change what is shown.
 */
export function timeLeft(until, remainingMs) {
  const deadline = Number.isFinite(remainingMs) ? Date.now() + remainingMs : until;
  return h('span', { class: 'time-left', title: new Date(until).toISOString(), dataset: { until: String(deadline) } }, fmtDuration(deadline - Date.now()));
}

export function tickTimeLeft(root = document) {
  for (const el of root.querySelectorAll('[data-until]')) {
    const left = Number(el.dataset.until) - Date.now();
    el.textContent = left > 0 ? fmtDuration(left) : 'expired';
    el.classList.toggle('expired', left <= 0);
  }
}

export function empty(text) {
  return h('div', { class: 'empty' }, text);
}

export function errorBox(err) {
  return h('div', { class: 'error-box' }, err?.describe ? err.describe() : String(err?.message || err));
}
