/**
 * The path rules are matched against (and the `route` key part and event route are built from): the
 * request path in a normal form, so spellings an upstream treats as the same resource cannot slip
 * past a rule written for it. `//login`, `/./login`, `/x/../login` and `/%6Cogin` all become
 * `/login` (RFC 3986 §6.2.2: percent-encoded unreserved characters decoded, dot segments removed;
 * and empty segments collapsed, as nginx and most routers do). The request itself is forwarded
 * unchanged. Not folded (documented in docs/THREAT-MODEL.md): letter case, a trailing slash, and
 * `;params` — write globs that cover them when the upstream treats them as equal.
 */

/** Anything to normalise at all: a percent sign, a double slash or a dot segment. */
const NEEDS_WORK = /%|\/\/|\/\.\.?(?:\/|$)/;
/** %XX of an unreserved character: ALPHA, DIGIT, "-", ".", "_", "~". */
const UNRESERVED = /%(?:2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])/g;

export function matchPath(raw: string): string {
  if (!NEEDS_WORK.test(raw)) return raw;
  const decoded = raw.includes('%') ? raw.replace(UNRESERVED, (m) => String.fromCharCode(parseInt(m.slice(1), 16))) : raw;
  const segments = decoded.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i]!;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (i === last) out.push(''); // `/a/.` is the directory `/a/`
      continue;
    }
    if (s === '' && i < last) continue; // `//` → `/` (a trailing slash is kept)
    out.push(s);
  }
  return '/' + out.join('/');
}
