import { LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ErrorCodes } from '../errors.js';
import { secretHasher } from '../clientKey.js';
import { INVALID, normalize, type Issue, type NormalizeOptions, type Path, type Sections } from './normalize.js';
import { ruleSchema, SECTION_SCHEMAS, topLevelSchema } from './schema.js';
import { MAX_POLICY_BYTES, policyFileError, policyTooLarge, readPolicyFileSync } from './file.js';
import type { HeaderStyle, Policy, PolicyError } from './types.js';

export type ParseResult =
  | { readonly ok: true; readonly policy: Policy; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly errors: readonly PolicyError[]; readonly warnings: readonly string[] };

export type ParseOptions = NormalizeOptions;

/** Every key the schema knows, for "did you mean" suggestions on unknown keys. */
const KNOWN_KEYS = [
  'version', 'identity', 'clients', 'tiers', 'defaultTier', 'store', 'headers', 'rules', 'events', 'upstream', 'analyzer',
  'trustedProxies', 'apiKey', 'jwt', 'ipv6Prefix', 'header', 'query', 'scheme', 'algorithms', 'secretEnv', 'publicKeyFile',
  'jwksFile', 'claim', 'tierClaim', 'issuer', 'audience', 'clockTolerance', 'requireExp', 'rejectInvalid', 'tier', 'multiplier',
  'shedPriority', 'kind', 'failMode', 'timeout', 'replicas', 'keyPrefix', 'maxKeys', 'id', 'match', 'method', 'path', 'host',
  'key', 'algorithm', 'limit', 'window', 'rate', 'burst', 'mode', 'maxDelay', 'cost', 'graphql', 'maxDepth', 'fieldCost',
  'listFactor', 'maxCost', 'shadow', 'countRejected', 'scope', 'maxOverAdmission', 'topic', 'bufferSize', 'linger',
  'batchSize', 'compression', 'connections', 'adaptiveConcurrency', 'strategy', 'minLimit', 'maxLimit', 'initialLimit',
  'allowlist', 'requireApproval', 'actions', 'minScore', 'action', 'ttl', 'detector', 'load', 'targets', 'p99', 'p50',
  'errorRate', 'minMultiplier', 'interval', 'metricsUrl', 'gauges', 'cooldown', 'retention', 'maxClients',
];

export { MAX_POLICY_BYTES, policyTooLarge } from './file.js';

/** Parses and validates a policy document; never throws on bad input. */
export function parsePolicy(text: string, opts: ParseOptions = {}): ParseResult {
  // UTF-8 takes at least one byte per UTF-16 unit: a longer string is over the cap uncounted
  const bytes = text.length > MAX_POLICY_BYTES ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES) return { ok: false, errors: [policyTooLarge(Buffer.byteLength(text, 'utf8'))], warnings: [] };
  const lineCounter = new LineCounter();
  // duplicate keys are found by duplicateKeys below: the library's own check (uniqueKeys) is
  // quadratic in a mapping's size (a 40 000-entry clients section took seconds on the event loop)
  // and compares 1 and "1" as different keys, which toJS then merges into one, the last winning
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: true, strict: true });
  const warnings: string[] = [];
  const yamlErrors = doc.errors.length > 0 ? doc.errors.map((e) => ({ message: yamlMessage(e.message), line: e.linePos?.[0]?.line })) : duplicateKeys(doc, lineCounter);
  if (yamlErrors.length > 0) {
    const seen = new Set<string>();
    const errors: PolicyError[] = [];
    for (const e of yamlErrors) {
      const id = `${e.line ?? ''}|${e.message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      errors.push(dropUndefinedLine({ code: ErrorCodes.POLICY_YAML, path: '', message: `YAML: ${e.message}`, line: e.line }));
    }
    return { ok: false, errors, warnings };
  }
  if (!isMap(doc.contents)) {
    return { ok: false, errors: [{ code: ErrorCodes.POLICY_TYPE, path: '', message: 'the policy must be a YAML mapping (version: 1, rules: […], …)' }], warnings };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, errors: [{ code: ErrorCodes.POLICY_YAML, path: '', message: `YAML: ${(err as Error).message}` }], warnings };
  }

  const issues: Issue[] = [];
  const nodes = new NodeIndex(doc);
  const collectZodIssues = (zodIssues: readonly z.core.$ZodIssue[], base: Path, root: unknown, out: Issue[]): void =>
    collectIssues(zodIssues, base, root, out, (path) => nodes.at(path));
  const top = topLevelSchema.safeParse(raw);
  if (!top.success) collectZodIssues(top.error.issues, [], raw, issues);
  const root = (raw ?? {}) as Record<string, unknown>;

  const section = <K extends keyof typeof SECTION_SCHEMAS>(name: K): z.infer<(typeof SECTION_SCHEMAS)[K]> | undefined | typeof INVALID => {
    if (root[name] === undefined || root[name] === null) return undefined;
    const result = SECTION_SCHEMAS[name].safeParse(root[name]);
    if (result.success) return result.data as z.infer<(typeof SECTION_SCHEMAS)[K]>;
    collectZodIssues(result.error.issues, [name], raw, issues);
    return INVALID;
  };

  const rawRules = Array.isArray(root.rules) ? root.rules : [];
  const sections: Sections = {
    identity: section('identity'),
    clients: section('clients'),
    tiers: section('tiers'),
    defaultTier: typeof root.defaultTier === 'string' ? root.defaultTier : undefined,
    store: section('store'),
    headers: section('headers') as HeaderStyle[] | undefined | typeof INVALID,
    events: section('events'),
    upstream: section('upstream'),
    analyzer: section('analyzer'),
    rules: rawRules.map((rule, i) => {
      const result = ruleSchema.safeParse(rule);
      if (result.success) return result.data;
      collectZodIssues(result.error.issues, ['rules', i], raw, issues);
      return INVALID;
    }),
    ruleIds: rawRules.map((rule) => {
      const id = (rule as { id?: unknown } | null)?.id;
      return typeof id === 'string' ? id : undefined;
    }),
  };
  const policy = normalize(sections, opts, issues, warnings);
  const redact = keyRedactor(opts.hashKey);
  const saidWarnings = warnings.map(redact);
  if (issues.length > 0 || policy === null || !top.success) {
    const errors = issues.map((issue) => {
      const e = toPolicyError(issue, nodes, lineCounter);
      return { ...e, path: redact(e.path), message: redact(e.message) };
    });
    // file order reads best; errors without a line (whole-document ones) first
    errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    return { ok: false, errors, warnings: saidWarnings };
  }
  return { ok: true, policy, warnings: saidWarnings };
}

/**
 * Errors and warnings name the policy's entries by their path, and a `clients` or `allowlist` entry
 * is an API key in clear (`apiKey:<raw>`): they end up in logs (a rejected hot reload) and on
 * stderr. Every `apiKey:<raw>` in their text becomes `apiKey:<id …>`, the id `ratewarden key-id`
 * prints for it, so the entry can still be found. (`apiKeyId:` entries are ids already.)
 */
function keyRedactor(hashKey: string | undefined): (text: string) => string {
  const hash = secretHasher(hashKey);
  return (text) => text.replace(/apiKey:([^\s|"\]\\]+)/g, (_m, raw: string) => `apiKey:<id ${hash(raw.replace(/…$/, ''))}>`);
}

/**
 * Reads and parses a policy file; unreadable files, files that are not regular files (a FIFO,
 * /dev/zero) and files over MAX_POLICY_BYTES (refused by their size, unread; at most
 * MAX_POLICY_BYTES + 1 bytes are ever read) are a POLICY_FILE error. See file.ts.
 */
export function loadPolicyFile(file: string, opts: ParseOptions = {}): ParseResult {
  const read = readPolicyFileSync(file);
  if (read.kind !== 'text') return { ok: false, errors: [policyFileError(read)], warnings: [] };
  return parsePolicy(read.text, opts);
}

/** `file:12: rules[2].window: "60x" is not a duration …` — one line per error. */
export function formatPolicyErrors(errors: readonly PolicyError[], file?: string): string {
  return errors
    .map((e) => {
      const where = file ? `${file}${e.line ? ':' + e.line : ''}: ` : e.line ? `line ${e.line}: ` : '';
      return `${where}${e.path ? e.path + ': ' : ''}${e.message} [${e.code}]`;
    })
    .join('\n');
}

export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += (out ? '.' : '') + seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** A number YAML resolved to NaN or ±Infinity (`.nan`, `.inf`, `1e400`), as the file writes it: JSON would say `null`. */
function nonFiniteSource(value: unknown, node: Node | undefined): string | null {
  if (typeof value !== 'number' || Number.isFinite(value)) return null;
  const source = isScalar(node) && typeof node.source === 'string' ? node.source : null;
  return source ?? (Number.isNaN(value) ? '.nan' : value > 0 ? '.inf' : '-.inf');
}

function show(value: unknown): string {
  if (value === undefined) return '';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? text.slice(0, 57) + '…' : text;
}

function valueAt(root: unknown, path: Path): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  int: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', array: 'a list', object: 'a mapping', record: 'a mapping',
};

function collectIssues(zodIssues: readonly z.core.$ZodIssue[], base: Path, root: unknown, out: Issue[], nodeAt: (path: Path) => Node | undefined): void {
  for (const issue of zodIssues) {
    const path: Path = [...base, ...(issue.path as Array<string | number>)];
    const value = valueAt(root, path);
    const nonFinite = nonFiniteSource(value, nonFiniteNode(value, path, nodeAt));
    if (nonFinite !== null) {
      out.push({ code: ErrorCodes.POLICY_TYPE, path, message: `${nonFinite} must be a finite number` });
      continue;
    }
    const shown = show(value);
    const custom = !issue.message.startsWith('Invalid') && !issue.message.startsWith('Too ') && !issue.message.startsWith('Unrecognized');
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const hint = suggest(key);
          out.push({ code: ErrorCodes.POLICY_UNKNOWN_KEY, path: [...path, key], message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}` });
        }
        break;
      case 'invalid_type':
        if (value === undefined) out.push({ code: ErrorCodes.POLICY_REQUIRED, path, message: 'is required' });
        else out.push({ code: ErrorCodes.POLICY_TYPE, path, message: `${shown} ${custom ? issue.message : `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`}` });
        break;
      case 'invalid_value': {
        const isVersion = path.length === 1 && path[0] === 'version';
        if (value === undefined) out.push({ code: isVersion ? ErrorCodes.POLICY_VERSION : ErrorCodes.POLICY_REQUIRED, path, message: isVersion ? 'is required (version: 1)' : 'is required' });
        else if (isVersion) out.push({ code: ErrorCodes.POLICY_VERSION, path, message: `${shown} is not supported: ${issue.message}` });
        else out.push({ code: ErrorCodes.POLICY_ENUM, path, message: `${shown} is not one of ${issue.values.map(String).join(', ')}${suggestValue(value, issue.values)}` });
        break;
      }
      case 'too_small':
      case 'too_big': {
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const op = issue.code === 'too_small' ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
        const what =
          issue.origin === 'array' ? `must have ${op} ${bound} items` : issue.origin === 'string' ? (issue.code === 'too_small' ? 'must not be empty' : `is too long (${op} ${bound})`) : `must be ${op} ${bound}`;
        out.push({ code: ErrorCodes.POLICY_RANGE, path, message: `${shown} ${what}` });
        break;
      }
      case 'invalid_format':
        out.push({ code: ErrorCodes.POLICY_TYPE, path, message: `${shown} ${custom ? issue.message : `is not a valid ${issue.format}`}` });
        break;
      case 'invalid_union':
        out.push(value === undefined ? { code: ErrorCodes.POLICY_REQUIRED, path, message: 'is required' } : { code: ErrorCodes.POLICY_TYPE, path, message: `${shown} ${issue.message}` });
        break;
      case 'invalid_key':
        out.push({ code: ErrorCodes.POLICY_TYPE, path, message: `key ${issue.issues[0]?.message ?? 'is not valid'}` });
        break;
      case 'custom': {
        const code = (issue.params as { code?: string } | undefined)?.code ?? ErrorCodes.POLICY_TYPE;
        out.push({ code, path, message: `${shown} ${issue.message}` });
        break;
      }
      default:
        out.push({ code: ErrorCodes.POLICY_TYPE, path, message: `${shown} ${issue.message}` });
    }
  }
}

function suggest(key: string): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  const lower = key.toLowerCase();
  for (const known of KNOWN_KEYS) {
    // the distance is at least the difference in length: most keys need no matrix
    if (Math.abs(known.length - key.length) >= bestDistance) continue;
    const d = levenshtein(lower, known.toLowerCase());
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

function suggestValue(value: unknown, allowed: readonly unknown[]): string {
  if (typeof value !== 'string') return '';
  let best: string | null = null;
  let bestDistance = 3;
  for (const option of allowed) {
    const d = levenshtein(value.toLowerCase(), String(option).toLowerCase());
    if (d < bestDistance) {
      best = String(option);
      bestDistance = d;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function nonFiniteNode(value: unknown, path: Path, nodeAt: (path: Path) => Node | undefined): Node | undefined {
  return typeof value === 'number' && !Number.isFinite(value) ? nodeAt(path) : undefined;
}

function toPolicyError(issue: Issue, nodes: NodeIndex, lineCounter: LineCounter): PolicyError {
  const line = lineOf(issue.path, nodes, lineCounter);
  return dropUndefinedLine({ code: issue.code, path: formatPath(issue.path), message: issue.message, line });
}

/** The line of the deepest node of `path` that exists in the document. */
function lineOf(path: Path, nodes: NodeIndex, lineCounter: LineCounter): number | undefined {
  for (let depth = path.length; depth > 0; depth--) {
    const node = nodes.at(path.slice(0, depth));
    if (node && typeof node === 'object' && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}

/** The name toJS gives a mapping key (null → "", 1.0 → "1"), or null for a collection key. */
function jsKeyOf(key: unknown, doc: Document): string | null {
  const node = isAlias(key) ? key.resolve(doc) : key;
  if (isScalar(node)) return node.value === null || node.value === undefined ? '' : String(node.value);
  if (node === null || node === undefined) return '';
  return null;
}

/**
 * The nodes of the document by path, as doc.getIn finds them, with each mapping's keys indexed
 * once: getIn scans a mapping's pairs, so finding the line of every one of n errors in one
 * mapping was n² (50 000 unknown keys: over a minute).
 */
class NodeIndex {
  private readonly maps = new Map<unknown, Map<string, { key: unknown; value: unknown }>>();
  constructor(private readonly doc: Document) {}

  at(path: Path): Node | undefined {
    let cur: unknown = this.doc.contents;
    for (const seg of path) {
      if (isAlias(cur)) cur = cur.resolve(this.doc);
      if (isSeq(cur)) cur = typeof seg === 'number' ? cur.items[seg] : undefined;
      else if (isMap(cur)) {
        let index = this.maps.get(cur);
        if (index === undefined) {
          index = new Map();
          for (const pair of cur.items) {
            const k = jsKeyOf(pair.key, this.doc);
            if (k !== null) index.set(k, pair); // the last wins, as in toJS
          }
          this.maps.set(cur, index);
        }
        cur = index.get(String(seg))?.value;
      } else return undefined;
      if (cur === null || cur === undefined) return undefined;
    }
    return cur as Node | undefined;
  }
}

/** No policy needs more; deeper documents are refused the same way whatever the stack allows. */
const MAX_DEPTH = 64;

/**
 * Keys given twice in one mapping, compared by the name toJS gives them (so `1` and `"1"` are the
 * same key), and nesting deeper than MAX_DEPTH: one pass over the document (no recursion) with a
 * set per mapping.
 */
function duplicateKeys(doc: Document, lineCounter: LineCounter): Array<{ message: string; line: number | undefined }> {
  const out: Array<{ message: string; line: number | undefined }> = [];
  const stack: Array<[unknown, number]> = [[doc.contents, 1]];
  const visited = new Set<unknown>();
  const lineAt = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object' || visited.has(node)) continue;
    visited.add(node);
    if ((isSeq(node) || isMap(node)) && depth > MAX_DEPTH) {
      out.push({ message: `the document is nested too deeply (more than ${MAX_DEPTH} levels)`, line: lineAt(node) });
      return out;
    }
    if (isSeq(node)) for (const item of node.items) stack.push([item, depth + 1]);
    else if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const k = jsKeyOf(pair.key, doc);
        if (k !== null) {
          if (seen.has(k)) out.push({ message: 'Map keys must be unique', line: lineAt(pair.key) });
          seen.add(k);
        }
        stack.push([pair.key, depth + 1], [pair.value, depth + 1]);
      }
    }
  }
  return out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** The library's message without its position (the line is given apart), in words a user can act on. */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  // the composer recurses per level and reports the overflow as an error of its own
  if (/call stack/i.test(first)) return `the document is nested too deeply (more than ${MAX_DEPTH} levels)`;
  return first;
}

function dropUndefinedLine<T extends { line?: number | undefined }>(e: T): T {
  if (e.line === undefined) delete e.line;
  return e;
}
