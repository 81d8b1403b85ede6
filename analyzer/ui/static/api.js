// The operator API from the browser. The token lives in sessionStorage (gone when the tab closes)
// and is sent as a bearer header; it may arrive once in the URL fragment (#token=…), which
// browsers never send to a server, and is removed from the address bar at once.

const KEY = 'ratewarden.token';
const base = new URL('../api/', document.baseURI);

export const events = new EventTarget();

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/**
 * Takes `#token=…` from the address bar into sessionStorage; true when it did. The fragment leaves
 * the address bar (and so the history) in every case — a malformed escape (`%zz`) included, which
 * once threw here, left the token on screen and stopped the whole UI. Such a token is taken as
 * written.
 */
export function takeTokenFromFragment() {
  const m = /^#token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  history.replaceState(null, '', location.pathname + location.search + '#/anomalies');
  const t = safeDecode(m[1]).trim();
  if (!t) return false;
  token.set(t);
  return true;
}

/** decodeURIComponent, or the text as it is when it is not a valid escape sequence. */
export function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
  /** The message with every field error, for a toast. */
  describe() {
    const errs = (this.problem?.errors || []).map((e) => `${e.path}: ${e.message}`);
    return [this.message, ...errs].join(' · ');
  }
}

function setConnection(state, detail) {
  events.dispatchEvent(new CustomEvent('connection', { detail: { state, detail } }));
}

export async function api(path, { method = 'GET', query, body } = {}) {
  const url = new URL(path.replace(/^\//, ''), base);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  const headers = { accept: 'application/json' };
  const t = token.get();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
  } catch {
    setConnection('offline');
    throw new ApiError(0, { title: 'the analyzer is unreachable', error: 'network' });
  }
  // only the operator API's own JSON counts: a 200 from something in front of the analyzer (a
  // proxy's sign-in page) once passed for a success, and a decision it swallowed showed "Dismissed"
  const type = res.headers.get('content-type') || '';
  const data = /^application\/(problem\+)?json\b/i.test(type) ? await res.json().catch(() => null) : null;
  if (res.ok && (data === null || typeof data !== 'object')) {
    setConnection('offline');
    throw new ApiError(res.status, { title: `the answer is not the operator API's (HTTP ${res.status}, ${type || 'no content type'}): is something in front of the analyzer?`, error: 'not_api' });
  }
  if (res.status === 401) {
    setConnection('unauthorized');
    events.dispatchEvent(new Event('unauthorized'));
  } else if (res.status === 503 && data?.error === 'api_disabled') setConnection('disabled');
  else setConnection('online');
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const paths = {
  anomaly: (id) => `anomalies/${encodeURIComponent(id)}`,
  client: (key) => `clients/${encodeURIComponent(key)}`,
};
