import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerToken, createAuthenticator, loginUrl, operatorName } from '../../../analyzer/api/auth.js';

test('the admin token grants the admin role and the read-only token the readonly role', () => {
  const auth = createAuthenticator({ adminToken: 'a'.repeat(32), readonlyToken: 'r'.repeat(32) });
  assert.equal(auth.roleOf('a'.repeat(32)), 'admin');
  assert.equal(auth.roleOf('r'.repeat(32)), 'readonly');
});

test('a wrong token, a prefix of the token, a longer token and no token grant nothing', () => {
  const auth = createAuthenticator({ adminToken: 'secret-token', readonlyToken: null });
  for (const t of ['wrong', 'secret', 'secret-token-and-more', '', undefined]) assert.equal(auth.roleOf(t), null, String(t));
});

test('without an admin token the API is disabled and even the read-only token grants nothing', () => {
  const auth = createAuthenticator({ adminToken: null, readonlyToken: 'ro' });
  assert.equal(auth.enabled, false);
  assert.equal(auth.roleOf('ro'), null);
});

test('the bearer token is taken from an Authorization header, case-insensitively', () => {
  assert.equal(bearerToken('Bearer abc.def'), 'abc.def');
  assert.equal(bearerToken('bearer   xyz'), 'xyz');
  assert.equal(bearerToken('Basic abc'), undefined);
  assert.equal(bearerToken('Bearer a b'), undefined);
  assert.equal(bearerToken(undefined), undefined);
});

test('the operator name is the role, or a sanitised X-Operator label with the role', () => {
  assert.equal(operatorName('admin', undefined), 'admin');
  assert.equal(operatorName('admin', 'alice@example.com'), 'alice@example.com (admin)');
  assert.equal(operatorName('readonly', 'bob\n<script>'), 'bob__script_ (readonly)');
  assert.equal(operatorName('admin', '\u0000\u0001'), 'admin');
  assert.equal(operatorName('admin', 'x'.repeat(500)), `${'x'.repeat(64)} (admin)`);
});

test('the login URL carries the token in the fragment, never in the query string', () => {
  const url = new URL(loginUrl('http://127.0.0.1:9090/', 'tok/en+'));
  assert.equal(url.pathname, '/ui/');
  assert.equal(url.search, '');
  assert.equal(url.hash, '#token=tok%2Fen%2B');
});
