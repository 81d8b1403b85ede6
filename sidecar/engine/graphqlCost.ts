import { Kind, parse, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode, type ValueNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { GraphqlCost } from '../../models/policy/index.js';

/**
 * Static cost of a GraphQL operation, without a schema, from the `graphql` package's parser:
 *  - depth: the deepest chain of fields (fragments and inline fragments add no level), following
 *    fragment spreads; a fragment cycle or an unknown fragment makes the query invalid;
 *  - cost: every field selected costs `fieldCost`, times the list multipliers of the fields above
 *    it. A field with a `first`, `last` or `limit` argument is taken to return a list of that many
 *    items (an int literal, or a variable's int value — the operation's default when the variable
 *    is not sent); when the size cannot be known (a variable without value or int default, a
 *    non-int) the configured `listFactor` is used. Aliases are counted one by one, so alias flooding
 *    (`a1: f a2: f …`) costs what it asks for.
 *  - arithmetic saturates at MAX_COST: a 400-digit list size, a variable of 1e300 or a fragment bomb
 *    would reach Infinity, and Infinity × first: 0 is NaN, which no `cost > maxCost` comparison
 *    refuses. A saturated cost is above any maxCost, and above any limit when there is none.
 * Fragment costs are memoised per fragment, so a "fragment bomb" (each fragment spreading the next
 * twice) is measured in linear time and costs its true, exponential, amount.
 */
/** One GraphQL operation as a client sends it. */
export interface GraphqlOperationRequest {
  readonly query: string;
  readonly operationName?: string | null;
  readonly variables?: Readonly<Record<string, unknown>> | null;
}

/**
 * What is priced: one operation, or a batch (a JSON array body, as Apollo and others accept) in
 * `batch` — null for an element that holds no query. A batch's own `query` is '' so that a reader
 * unaware of batches refuses it (it does not parse) rather than prices it as one cheap request.
 */
export interface GraphqlPricedRequest extends GraphqlOperationRequest {
  readonly batch?: ReadonlyArray<GraphqlOperationRequest | null>;
  /**
   * Set when the request carries a body the sidecar cannot read as its server would (compressed,
   * another charset, unparseable, a query in the URL of a POST): refused (400) with this reason,
   * rather than priced as one unit.
   */
  readonly unpriceable?: string;
}

/** Bound on the operations of one batched request: more is refused (400), not priced. */
export const MAX_GRAPHQL_BATCH = 100;

export type GraphqlCostResult =
  | { readonly ok: true; readonly cost: number; readonly depth: number }
  | { readonly ok: false; readonly reason: string };

const LIST_ARGS = new Set(['first', 'last', 'limit']);
/** The largest cost (and list size) reported: every sum and product is capped here, so it stays finite. */
export const MAX_COST = Number.MAX_SAFE_INTEGER;
/** Bound on tokens parsed per query (graphql's own DoS guard). */
const MAX_TOKENS = 20_000;

interface Parsed {
  readonly doc: DocumentNode | null;
  readonly error: string | null;
}

/**
 * Parsed documents of recent queries: clients repeat the same few queries. Bounded in bytes too
 * (1 000 distinct 16 KiB queries, each refused for its cost, held 1.4 GiB: test/e2e/security/
 * badInput.test.ts). A document's size depends on its shape, not only its length — from ~25 bytes
 * a character for an ordinary query to ~185 for `{a}{a}{a}…` — so each is sized from its own nodes
 * (parsedBytes); a flat 100 bytes a character let the 32 MiB budget hold 58 MiB of such documents
 * (test/unit/engine/graphqlParseCacheMemory.test.ts).
 */
const parsedCache = new LRUCache<string, Parsed>({ max: 1_000, maxSize: 32 * 1024 * 1024 });
const CACHEABLE_LENGTH = 16 * 1024;

/**
 * An upper bound on the heap a cache entry holds: its key (two bytes a character at most), the
 * entry, and the document as V8 (64-bit, uncompressed pointers) lays it out — an object is a 24-byte
 * header and 8 bytes a property; an array 48 bytes and 8 a slot, up to 1.5 × its length + 16 slots
 * once grown by pushes (the parser's lists); a string 24 bytes and its characters. Measured against
 * the heap: 1.15–2.2 times the real size across query shapes, ~1.3 for ordinary queries.
 * Walked without recursion (a document may nest thousands deep).
 */
function parsedBytes(query: string, parsed: Parsed): number {
  let bytes = 128 + 2 * query.length;
  const stack: unknown[] = [parsed.doc ?? parsed.error];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += 24 + v.length;
    else if (Array.isArray(v)) {
      bytes += v.length === 0 ? 32 : 48 + 8 * (v.length + (v.length >> 1) + 16);
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else if (typeof v === 'object' && v !== null) {
      bytes += 24;
      for (const k in v) {
        bytes += 8;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return bytes;
}

function parseQuery(query: string): Parsed {
  const cached = query.length <= CACHEABLE_LENGTH ? parsedCache.get(query) : undefined;
  if (cached !== undefined) return cached;
  let parsed: Parsed;
  try {
    parsed = { doc: parse(query, { noLocation: true, maxTokens: MAX_TOKENS }), error: null };
  } catch (err) {
    parsed = { doc: null, error: `GraphQL query does not parse: ${(err as Error).message}` };
  }
  if (query.length <= CACHEABLE_LENGTH) parsedCache.set(query, parsed, { size: parsedBytes(query, parsed) });
  return parsed;
}

class Invalid extends Error {}

interface Walk {
  readonly fragments: Map<string, FragmentDefinitionNode>;
  readonly variables: Readonly<Record<string, unknown>> | null;
  /** The operation's int-literal variable defaults, used for variables the request does not send. */
  readonly defaults: ReadonlyMap<string, number> | null;
  readonly cfg: GraphqlCost;
  /** Per fragment: [depth, cost at multiplier 1]; absent while being computed (cycle detection). */
  readonly memo: Map<string, [number, number]>;
  readonly inProgress: Set<string>;
}

/** A list size, in [0, MAX_COST] (an int literal of 400 digits is Infinity as a Number). */
function size(n: number): number {
  return n > 0 ? (n < MAX_COST ? n : MAX_COST) : 0;
}

function listSize(value: ValueNode, walk: Walk): number {
  if (value.kind === Kind.INT) return size(Number(value.value));
  if (value.kind === Kind.VARIABLE) {
    const name = value.name.value;
    const vars = walk.variables;
    if (vars !== null && Object.hasOwn(vars, name)) {
      const v = vars[name];
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return size(v);
    } else {
      const d = walk.defaults?.get(name);
      if (d !== undefined) return d;
    }
  }
  return walk.cfg.listFactor;
}

/** The operation's variables with an int-literal default (`$n: Int = 100000`), or null when none. */
function intDefaults(op: OperationDefinitionNode): Map<string, number> | null {
  let defaults: Map<string, number> | null = null;
  for (const def of op.variableDefinitions ?? []) {
    if (def.defaultValue?.kind === Kind.INT) (defaults ??= new Map()).set(def.variable.name.value, size(Number(def.defaultValue.value)));
  }
  return defaults;
}

/** a + b, saturated at MAX_COST (NaN, from a non-finite fieldCost, saturates too). */
function add(a: number, b: number): number {
  const x = a + b;
  return x <= MAX_COST ? x : MAX_COST;
}

/**
 * [depth, cost] of a selection set at multiplier 1. `level` is the absolute nesting, only used to stop
 * walking (and recursing) as soon as the query is known to be too deep.
 */
function measure(set: SelectionSetNode, walk: Walk, level: number): [number, number] {
  if (level >= walk.cfg.maxDepth) throw new Invalid(`GraphQL query depth exceeds the maximum of ${walk.cfg.maxDepth}`);
  let depth = 0;
  let cost = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      let factor = -1;
      if (sel.arguments) {
        for (const arg of sel.arguments) if (LIST_ARGS.has(arg.name.value)) factor = Math.max(factor, listSize(arg.value, walk));
      }
      if (factor < 0) factor = 1;
      let d = 1;
      let c = add(walk.cfg.fieldCost, 0);
      if (sel.selectionSet) {
        const [sd, sc] = measure(sel.selectionSet, walk, level + 1);
        d += sd;
        if (factor > 0) c = add(c, factor * sc); // both ≤ MAX_COST: the product is finite
      }
      if (d > depth) depth = d;
      cost = add(cost, c);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const [sd, sc] = measure(sel.selectionSet, walk, level);
      if (sd > depth) depth = sd;
      cost = add(cost, sc);
    } else {
      const [sd, sc] = fragment(sel.name.value, walk, level);
      if (sd > depth) depth = sd;
      cost = add(cost, sc);
    }
  }
  return [depth, cost];
}

function fragment(name: string, walk: Walk, level: number): [number, number] {
  const known = walk.memo.get(name);
  if (known) return known;
  if (walk.inProgress.has(name)) throw new Invalid(`GraphQL fragment "${name}" spreads itself (fragment cycle)`);
  const def = walk.fragments.get(name);
  if (!def) throw new Invalid(`GraphQL fragment "${name}" is not defined`);
  walk.inProgress.add(name);
  const result = measure(def.selectionSet, walk, level);
  walk.inProgress.delete(name);
  walk.memo.set(name, result);
  return result;
}

/**
 * A batch costs the sum of its operations (saturated at MAX_COST): each was charged 1 unit as a
 * whole before, whatever it asked for. maxDepth applies to each operation, maxCost to the sum (what
 * the request is charged); an element without a query, an empty batch or one of more than
 * MAX_GRAPHQL_BATCH operations is refused.
 */
export function graphqlCost(request: GraphqlPricedRequest, cfg: GraphqlCost): GraphqlCostResult {
  if (request.unpriceable !== undefined) return { ok: false, reason: request.unpriceable };
  const batch = request.batch;
  if (batch === undefined) return operationCost(request, cfg);
  if (batch.length === 0) return { ok: false, reason: 'GraphQL batch holds no operation' };
  if (batch.length > MAX_GRAPHQL_BATCH) return { ok: false, reason: `GraphQL batch of ${batch.length} operations exceeds the maximum of ${MAX_GRAPHQL_BATCH}` };
  let cost = 0;
  let depth = 0;
  for (let i = 0; i < batch.length; i++) {
    const op = batch[i];
    if (op == null) return { ok: false, reason: `GraphQL batch element ${i} has no query` };
    const r = operationCost(op, cfg);
    if (!r.ok) return { ok: false, reason: `GraphQL batch element ${i}: ${r.reason}` };
    cost = add(cost, r.cost);
    if (r.depth > depth) depth = r.depth;
    // stop as soon as the sum is refused: the rest need not be parsed
    if (cfg.maxCost !== null && cost > cfg.maxCost) {
      const partial = i + 1 < batch.length ? ` (after ${i + 1} of ${batch.length} operations)` : '';
      return { ok: false, reason: `GraphQL batch cost ${cost}${partial} exceeds the maximum of ${cfg.maxCost}` };
    }
  }
  return { ok: true, cost, depth };
}

function operationCost(request: GraphqlOperationRequest, cfg: GraphqlCost): GraphqlCostResult {
  const parsed = parseQuery(request.query);
  if (parsed.doc === null) return { ok: false, reason: parsed.error! };
  const operations: OperationDefinitionNode[] = [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of parsed.doc.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION) operations.push(def);
    else if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    else return { ok: false, reason: 'GraphQL request holds a type system definition, not an operation' };
  }
  let op: OperationDefinitionNode | undefined;
  if (request.operationName) {
    op = operations.find((o) => o.name?.value === request.operationName);
    if (!op) return { ok: false, reason: `GraphQL operation "${request.operationName}" is not in the query` };
  } else if (operations.length === 1) op = operations[0];
  else return { ok: false, reason: operations.length === 0 ? 'GraphQL query has no operation' : 'GraphQL query has several operations and no operationName' };

  const walk: Walk = { fragments, variables: request.variables ?? null, defaults: intDefaults(op!), cfg, memo: new Map(), inProgress: new Set() };
  try {
    const [depth, cost] = measure(op!.selectionSet, walk, 0);
    if (depth > cfg.maxDepth) return { ok: false, reason: `GraphQL query depth ${depth} exceeds the maximum of ${cfg.maxDepth}` };
    const units = Math.max(1, Math.ceil(cost));
    // cost is finite by construction; the check stays so that a NaN could never pass as "not above maxCost"
    if (!Number.isFinite(units)) return { ok: false, reason: 'GraphQL query cost cannot be computed' };
    if (cfg.maxCost !== null && units > cfg.maxCost) return { ok: false, reason: `GraphQL query cost ${units} exceeds the maximum of ${cfg.maxCost}` };
    return { ok: true, cost: units, depth };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message };
    if (err instanceof RangeError) return { ok: false, reason: 'GraphQL query is too deeply nested' };
    throw err;
  }
}
