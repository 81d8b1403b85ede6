import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeCell, table } from '../../../cli/operator/table.js';
import { clientOptions, UsageError } from '../../../cli/operator/client.js';

test('columns are aligned to the widest cell', () => {
  const out = table(['ID', 'CLIENT'], [['a', 'ip:1.2.3.4'], ['long-id', 'x']]);
  assert.equal(out, 'ID       CLIENT\na        ip:1.2.3.4\nlong-id  x\n');
});

test('cells cannot carry terminal escape sequences and long cells are cut', () => {
  assert.equal(safeCell('evil\u001b[2Jclear\r\n'), 'evil?[2Jclear??');
  assert.equal(safeCell('x'.repeat(100), 10), 'xxxxxxxxx…');
});

test('the analyzer URL comes from --url, then RW_ANALYZER_URL, then the default', () => {
  assert.equal(clientOptions({ url: 'http://a:1/' }, { RW_ANALYZER_URL: 'http://b:2' }).url, 'http://a:1');
  assert.equal(clientOptions({}, { RW_ANALYZER_URL: 'http://b:2' }).url, 'http://b:2');
  assert.equal(clientOptions({}, {}).url, 'http://127.0.0.1:9090');
  assert.throws(() => clientOptions({ url: 'ftp://x' }, {}), UsageError);
});

test('the token comes from RW_ADMIN_TOKEN unless --token-file names a readable file', () => {
  assert.equal(clientOptions({}, { RW_ADMIN_TOKEN: 'tok' }).token, 'tok');
  assert.throws(() => clientOptions({ 'token-file': '/nonexistent/token' }, { RW_ADMIN_TOKEN: 'tok' }), UsageError);
});
