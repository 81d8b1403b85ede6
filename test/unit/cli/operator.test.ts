/**
 * The operator commands (`ratewarden anomalies …`, `ratewarden blocks …`) against a stub operator
 * API that records what reaches it: the next-page hint keeps the filters, --ttl needs a unit, an
 * unknown subcommand is named as such before anything else happens.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { cli } from './run.js';

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

let server: Server;
let url: string;
const seen: Seen[] = [];

const report = (id: string) => ({
  id,
  ts: Date.UTC(2026, 0, 1),
  client: 'ip:203.0.113.7',
  score: 0.93,
  detectors: { robust_z: 0.93 },
  action: { kind: 'observe', applied: false },
  status: 'open',
  summary: 'a burst',
  window: { start: 0, end: 1 },
  history: [],
});

before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      seen.push({ method: req.method ?? '', path: u.pathname, query: Object.fromEntries(u.searchParams), body: raw ? JSON.parse(raw) : null });
      res.setHeader('content-type', 'application/json');
      if (u.pathname === '/api/anomalies') {
        // two pages: the first points at the second with an opaque cursor
        const second = u.searchParams.get('cursor') === 'c2';
        res.end(JSON.stringify({ items: [report(second ? 'an-2' : 'an-1')], next: second ? null : 'c2' }));
      } else if (u.pathname === '/api/blocks' && req.method === 'POST') res.end(JSON.stringify({ seq: 7 }));
      else res.end(JSON.stringify({ now: 0, items: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  seen.length = 0;
});

const env = () => ({ RW_ANALYZER_URL: url, RW_ADMIN_TOKEN: 'admin-token', RW_OPERATOR: 'tester' });

/** Splits a printed command into its words (plain and single-quoted words, as the hint prints them). */
function words(command: string): string[] {
  return [...command.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!));
}

test('anomalies list: the "more:" hint repeats every filter given, so the next page is of the same list', async () => {
  const first = await cli(['anomalies', 'list', '--status', 'open', '--client', 'ip:203.0.113.7', '--since', '1h', '--limit', '1'], { env: env() });
  assert.equal(first.code, 0, first.stderr);
  const hint = /^more: (.*)$/m.exec(first.stdout)?.[1];
  assert.ok(hint, first.stdout);
  assert.equal(hint, 'ratewarden anomalies list --status open --client ip:203.0.113.7 --since 1h --limit 1 --cursor c2');
  // running the hint asks for the same filtered list, one page on
  const [prog, ...args] = words(hint);
  assert.equal(prog, 'ratewarden');
  seen.length = 0;
  const next = await cli(args, { env: env() });
  assert.equal(next.code, 0, next.stderr);
  assert.deepEqual(seen.map((s) => s.query), [{ status: 'open', client: 'ip:203.0.113.7', since: '1h', limit: '1', cursor: 'c2' }]);
  assert.match(next.stdout, /an-2/);
  assert.doesNotMatch(next.stdout, /^more:/m);
});

test('anomalies list: the hint quotes a value the shell would split, and keeps the analyzer given with --url', async () => {
  const r = await cli(['anomalies', 'list', '--since', '2026-01-01 00:00', '--url', url], { env: { RW_ADMIN_TOKEN: 'admin-token' } });
  assert.equal(r.code, 0, r.stderr);
  const hint = /^more: (.*)$/m.exec(r.stdout)?.[1];
  assert.equal(hint, `ratewarden anomalies list --since '2026-01-01 00:00' --url ${url} --cursor c2`);
});

test('anomalies list without filters: the hint has only the cursor', async () => {
  const r = await cli(['anomalies', 'list'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^more: ratewarden anomalies list --cursor c2$/m);
});

test('blocks add --ttl with a bare number is a usage error asking for a unit; nothing reaches the API', async () => {
  const r = await cli(['blocks', 'add', 'ip:203.0.113.7', '--ttl', '3600'], { env: env() });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^ratewarden blocks: --ttl 3600 has no unit: give one, e\.g\. 3600s \(seconds\), 10m, 2h or 1d$/m);
  assert.match(r.stderr, /usage:/);
  assert.deepEqual(seen, []);
});

test('blocks add --ttl that is not a duration is a usage error', async () => {
  const r = await cli(['blocks', 'add', 'ip:203.0.113.7', '--ttl', 'soon'], { env: env() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--ttl "soon" is not a duration/);
  assert.deepEqual(seen, []);
});

test('blocks add prints the duration it blocked for with its unit, normalised', async () => {
  const r = await cli(['blocks', 'add', 'ip:203.0.113.7', '--ttl', '3600s', '--reason', 'test'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'blocked ip:203.0.113.7 for 1h (seq 7)\n');
  assert.deepEqual(seen.map((s) => [s.method, s.path, s.body]), [['POST', '/api/blocks', { client: 'ip:203.0.113.7', ttl: '3600s', reason: 'test' }]]);
  const m = await cli(['blocks', 'add', 'ip:203.0.113.7', '--ttl', '90s'], { env: env() });
  assert.equal(m.stdout, 'blocked ip:203.0.113.7 for 90s (seq 7)\n');
});

test('blocks: an unknown subcommand is named as such, before --api-key - would read stdin', async () => {
  // stdin stays open: a command that read it first would wait until the deadline
  const r = await cli(['blocks', 'frob', '--api-key', '-'], { env: env(), timeoutMs: 15_000 });
  assert.equal(r.code, 2, `code ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^ratewarden blocks: unknown subcommand "frob"; expected list, add, remove$/m);
  const bare = await cli(['blocks', 'frob'], { env: env(), stdin: '' });
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /unknown subcommand "frob"/);
  assert.doesNotMatch(bare.stderr, /CLIENT key or --api-key is required/);
  assert.deepEqual(seen, []);
});

test('blocks add --api-key - with a bare --ttl refuses before reading stdin', async () => {
  const r = await cli(['blocks', 'add', '--api-key', '-', '--ttl', '600'], { env: env(), timeoutMs: 15_000 });
  assert.equal(r.code, 2, `code ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /--ttl 600 has no unit/);
});

test('anomalies: an unknown subcommand is named as such, not reported as a missing ID', async () => {
  const r = await cli(['anomalies', 'frob'], { env: env(), stdin: '' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ratewarden anomalies: unknown subcommand "frob"; expected list, show, confirm, dismiss, approve$/m);
  assert.doesNotMatch(r.stderr, /needs an anomaly ID/);
  assert.deepEqual(seen, []);
});
