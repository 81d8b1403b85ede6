/**
 * The GraphQL pricing cache keeps parsed documents under a 32 MiB budget. It sized each one at 100
 * bytes per character of its query, but a document's real size depends on its shape: a query of
 * tiny selections (`{a}{a}{a}…`, `a{a}a{a}…`, deep nesting) costs 130–185 bytes a character, so the
 * budget really held up to ~58 MiB — while ordinary queries (~25 bytes a character) were sized four
 * times too large. Each document is now sized from its own nodes, an upper bound for every shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { graphqlCost } from '../../../sidecar/engine/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const cfg = { maxDepth: 5, fieldCost: 1, listFactor: 10, maxCost: null };
const BUDGET = 32 * 1024 * 1024;

test('1 000 distinct 16 KB queries of the densest shape hold no more than the 32 MiB budget', { timeout: 120_000 }, () => {
  // the shape with the most parsed nodes per character: many one-field operations
  const body = '{a}'.repeat(5_330);
  const query = (i: number): string => `# ${String(i).padStart(8, '0')}\n${body}`;
  assert.ok(query(0).length <= 16 * 1024, 'short enough to be cached');
  graphqlCost({ query: query(-1) }, cfg);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000; i++) graphqlCost({ query: query(i) }, cfg);
  gc();
  gc();
  const held = process.memoryUsage().heapUsed - before;
  assert.ok(held <= BUDGET * 1.05, `${(held / 1024 / 1024).toFixed(1)} MiB held by the parse cache`);
  // and the budget is used, not refused: documents are still cached
  assert.ok(held > 4 * 1024 * 1024, `${(held / 1024 / 1024).toFixed(1)} MiB held: documents are cached`);
});
