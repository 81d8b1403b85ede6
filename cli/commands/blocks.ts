/**
 * `ratewarden blocks list|add|remove` — the control plane's blocks over the operator API.
 * `--api-key KEY` (or `--api-key -` to read it from stdin) hashes the key here, with RW_HASH_KEY
 * exactly as the sidecar does, so an operator can block by key without the key ever reaching the
 * analyzer.
 */
import { apiKeyAsRead, apiKeyId } from '../../models/clientKey.js';
import { formatDuration, parseDuration } from '../../models/duration.js';
import { COMMON_USAGE, parse, printJson, readStdin, runCommand } from '../operator/args.js';
import { clientOptions, OperatorClient, UsageError } from '../operator/client.js';
import { isoTime, shortDuration, table } from '../operator/table.js';

const USAGE = `usage:
  ratewarden blocks list
  ratewarden blocks add (CLIENT | --api-key KEY | --api-key -) --ttl 10m [--reason TEXT]
  ratewarden blocks remove (CLIENT | --api-key KEY | --api-key -) [--note TEXT]

  CLIENT is a client key as in reports: apiKey:9f86d081884c7d65, ip:203.0.113.7, user:alice
  --api-key hashes a raw API key locally (RW_HASH_KEY, like \`ratewarden key-id\`); "-" reads it from stdin

${COMMON_USAGE}`;

interface BlockItem {
  client: string;
  until: number;
  reason: string;
  anomalyId?: string;
  seq: number;
  remainingMs: number;
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('blocks', USAGE, async () => {
    const { values, positionals } = parse(argv, {
      'api-key': { type: 'string' },
      ttl: { type: 'string' },
      reason: { type: 'string' },
      note: { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return;
    }
    const [sub, target, ...extra] = positionals;
    if (!sub) throw new UsageError('a subcommand is required');
    if (!SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown subcommand "${sub}"; expected ${SUBCOMMANDS.join(', ')}`);
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const api = new OperatorClient(clientOptions(values));

    if (sub === 'list') {
      if (target) throw new UsageError(`unexpected argument "${target}"`);
      const list = await api.request<{ now: number; items: BlockItem[] }>('GET', '/api/blocks', { expect: (x) => Array.isArray((x as { items?: unknown }).items) });
      if (values.json) return printJson(list);
      if (list.items.length === 0) {
        process.stdout.write('no blocks\n');
        return;
      }
      process.stdout.write(table(['CLIENT', 'UNTIL', 'LEFT', 'ANOMALY', 'REASON'], list.items.map((b) => [b.client, isoTime(b.until), b.remainingMs > 0 ? shortDuration(b.remainingMs) : 'expired', b.anomalyId ?? '-', b.reason])));
      return;
    }

    // flags are checked before --api-key - reads stdin
    const ttl = sub === 'add' ? ttlOf(values.ttl) : null;
    const client = await clientKeyOf(target, values['api-key']);
    if (sub === 'add') {
      const res = await api.request<{ seq: number }>('POST', '/api/blocks', { body: { client, ttl: ttl!.text, ...(values.reason ? { reason: values.reason } : {}) }, expect: (x) => typeof (x as { seq?: unknown }).seq === 'number' });
      if (values.json) return printJson({ client, ...res });
      process.stdout.write(`blocked ${client} for ${formatDuration(ttl!.ms)} (seq ${res.seq})\n`);
      return;
    }
    if (sub === 'remove') {
      const res = await api.request<{ removed: boolean }>('DELETE', '/api/blocks', { query: { client, note: values.note }, expect: (x) => (x as { removed?: unknown }).removed === true });
      if (values.json) return printJson({ client, ...res });
      process.stdout.write(`unblocked ${client}\n`);
      return;
    }
    throw new UsageError(`unknown subcommand "${sub}"`);
  });
}

const SUBCOMMANDS = ['list', 'add', 'remove'];

/**
 * `--ttl`: a duration with its unit (90s, 10m, 2h, 1d). A bare number is refused rather than
 * guessed at: the API would read `3600` as milliseconds, where an operator likely meant an hour.
 */
function ttlOf(text: string | undefined): { text: string; ms: number } {
  if (text === undefined || text.trim() === '') throw new UsageError('blocks add needs --ttl (e.g. 10m, 2h)');
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) throw new UsageError(`--ttl ${t} has no unit: give one, e.g. ${t}s (seconds), 10m, 2h or 1d`);
  const ms = parseDuration(t);
  if (ms === null) throw new UsageError(`--ttl "${t}" is not a duration (e.g. 90s, 10m, 2h, 1d)`);
  return { text: t, ms };
}

async function clientKeyOf(target: string | undefined, apiKey: string | undefined): Promise<string> {
  if (target && apiKey !== undefined) throw new UsageError('give a CLIENT or --api-key, not both');
  if (apiKey !== undefined) {
    // read as a sidecar reads a request's key (trimmed, at most 512 characters): else the block names a key no request carries
    const read = apiKeyAsRead(apiKey === '-' ? await readStdin() : apiKey);
    if ('problem' in read) throw new UsageError(`--api-key: ${read.problem}`);
    return `apiKey:${apiKeyId(read.key)}`;
  }
  if (!target) throw new UsageError('a CLIENT key or --api-key is required');
  if (!/^[A-Za-z][A-Za-z0-9_-]*:\S+$/.test(target)) throw new UsageError(`"${target}" is not a client key (like apiKey:9f86d081884c7d65 or ip:203.0.113.7); for a raw API key use --api-key`);
  return target;
}
