/**
 * `ratewarden anomalies list` checks its filters as the API does, before anything is sent: a
 * `--since` that is no time (`yesterday`, or an impossible day such as 2025-02-30), a `--status` that
 * is no status, a `--limit` out of 1…200 or a `--client` that is no client key is a usage error
 * (exit 2, with the usage) like the CLI's other bad arguments. They used to be sent, refused by the
 * API with 400 and reported as an API error (exit 1).
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { cli } from './run.js';

let server: Server;
let url: string;
const seen: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    // what the operator API answers a filter it refuses
    res.statusCode = 400;
    res.setHeader('content-type', 'application/problem+json');
    res.end(JSON.stringify({ type: 'about:blank', title: 'Bad request', status: 400, error: 'bad_request', detail: 'since is not a time' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  seen.length = 0;
});

const env = () => ({ RW_ANALYZER_URL: url, RW_ADMIN_TOKEN: 'admin-token', RW_OPERATOR: 'tester' });

test('anomalies list with a filter the API would refuse is a usage error (exit 2), and nothing is sent', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--since', 'yesterday'], /--since "yesterday" is not a time/],
    [['--since', '2025-02-30'], /--since "2025-02-30" is not a time/],
    [['--since', '2025-04-31T00:00:00Z'], /is not a time/],
    [['--status', 'opened'], /--status "opened" is not a status; expected open, pending/],
    [['--limit', '0'], /--limit must be between 1 and 200/],
    [['--limit', '500'], /--limit must be between 1 and 200/],
    [['--client', 'alice'], /--client "alice" is not a client key/],
  ];
  for (const [flags, message] of cases) {
    const r = await cli(['anomalies', 'list', ...flags], { env: env() });
    const what = flags.join(' ');
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.match(r.stderr, /usage:/, what);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, `${what}: no stack trace`);
  }
  assert.deepEqual(seen, [], 'nothing was sent');
});

test('anomalies list with good filters still asks the API (its refusal is an API error, exit 1)', async () => {
  const r = await cli(['anomalies', 'list', '--since', '2024-02-29', '--status', 'open', '--limit', '200', '--client', 'ip:203.0.113.7'], { env: env() });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, /since=2024-02-29/);
});
