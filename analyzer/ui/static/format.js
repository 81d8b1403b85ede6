// Formatting for people: times, durations, numbers.

export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(ms, now = Date.now()) {
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return 'in ' + fmtDuration(-s * 1000);
  if (s < 5) return 'just now';
  return fmtDuration(s * 1000) + ' ago';
}

/** 1h 02m, 4m 05s, 12s */
export function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return '—';
  let s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  s -= mm * 60;
  const pad = (n) => String(n).padStart(2, '0');
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${pad(mm)}m`;
  if (mm) return `${mm}m ${pad(s)}s`;
  return `${s}s`;
}

export function fmtNum(x, digits = 2) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en');
  return String(Number(x.toFixed(digits)));
}

export function fmtScore(x) {
  return Number.isFinite(x) ? x.toFixed(2) : '—';
}
