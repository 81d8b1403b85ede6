/**
 * `ratewarden anomalies list|show|confirm|dismiss|approve` — review the analyzer's anomaly reports
 * over the operator API.
 */
import { ANOMALY_STATUSES, type AnomalyReport, type Explanation } from '../../models/anomaly.js';
import { parseSince } from '../../analyzer/api/since.js';
import { COMMON_USAGE, parse, printJson, runCommand } from '../operator/args.js';
import { clientOptions, OperatorClient, UsageError } from '../operator/client.js';
import { isoTime, keyValues, safeCell, shortDuration, table } from '../operator/table.js';

const USAGE = `usage:
  ratewarden anomalies list [--status S] [--client KEY] [--since 1h|ISO|epoch-ms] [--limit N] [--cursor C]
  ratewarden anomalies show ID
  ratewarden anomalies confirm|dismiss|approve ID [--note TEXT]

  confirm   a true positive: keep the block/override, mark it confirmed
  dismiss   a false positive: lift the block/override it caused, mark it dismissed
  approve   apply an action that waits for an operator (pending → actioned)

${COMMON_USAGE}`;

interface Page {
  items: AnomalyReport[];
  next: string | null;
}

interface Detail {
  report: AnomalyReport;
  evidence: { features: Explanation[]; series: { ts: number[] } | null };
  block: { until: number; reason: string; remainingMs: number } | null;
  overrides: Array<{ field: string; multiplier?: number; limit?: number; remainingMs: number }>;
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('anomalies', USAGE, async () => {
    const { values, positionals } = parse(argv, {
      status: { type: 'string' },
      client: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      note: { type: 'string' },
    });
    const [sub, id, ...extra] = positionals;
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return;
    }
    if (!sub) throw new UsageError('a subcommand is required');
    if (!SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown subcommand "${sub}"; expected ${SUBCOMMANDS.join(', ')}`);
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const api = new OperatorClient(clientOptions(values));

    if (sub === 'list') {
      if (id) throw new UsageError(`unexpected argument "${id}"`);
      checkListFlags(values);
      const page = await api.request<Page>('GET', '/api/anomalies', { query: { status: values.status, client: values.client, since: values.since, limit: values.limit, cursor: values.cursor }, expect: isPage });
      if (values.json) return printJson(page);
      if (page.items.length === 0) {
        process.stdout.write('no anomalies\n');
        return;
      }
      process.stdout.write(
        table(
          ['ID', 'DETECTED', 'CLIENT', 'SCORE', 'DETECTORS', 'ACTION', 'STATUS', 'SUMMARY'],
          page.items.map((r) => [r.id, isoTime(r.ts), r.client, r.score.toFixed(2), Object.keys(r.detectors).join(','), actionText(r), r.status, r.summary]),
        ),
      );
      if (page.next) process.stdout.write(`more: ${nextPageCommand(values, page.next)}\n`);
      return;
    }

    if (!id) throw new UsageError(`anomalies ${sub} needs an anomaly ID`);
    const path = `/api/anomalies/${encodeURIComponent(id)}`;
    if (sub === 'show') {
      const d = await api.request<Detail>('GET', path, { expect: isDetail });
      if (values.json) return printJson(d);
      process.stdout.write(showText(d));
      return;
    }
    if (sub === 'confirm' || sub === 'dismiss' || sub === 'approve') {
      const res = await api.request<{ report: AnomalyReport }>('POST', `${path}/${sub}`, { body: values.note ? { note: values.note } : {}, expect: (x) => isReport((x as { report?: unknown }).report) });
      if (values.json) return printJson(res);
      const last = res.report.history.at(-1);
      process.stdout.write(`${safeCell(res.report.id)}: ${res.report.status}${last ? ` (${safeCell(last.what)} by ${safeCell(last.who)})` : ''}\n`);
      return;
    }
    throw new UsageError(`unknown subcommand "${sub}"`);
  });
}

const SUBCOMMANDS = ['list', 'show', 'confirm', 'dismiss', 'approve'];

/**
 * The filters of `anomalies list`, checked as the API checks them before anything is sent: a value it
 * would refuse is a usage error (exit 2) like any other bad argument, not an API error (exit 1).
 */
function checkListFlags(values: { status?: string; client?: string; since?: string; limit?: string }): void {
  if (values.status !== undefined && !(ANOMALY_STATUSES as readonly string[]).includes(values.status)) {
    throw new UsageError(`--status "${safeCell(values.status)}" is not a status; expected ${ANOMALY_STATUSES.join(', ')}`);
  }
  if (values.client !== undefined && !/^[A-Za-z][A-Za-z0-9_-]*:\S+$/.test(values.client)) {
    throw new UsageError(`--client "${safeCell(values.client)}" is not a client key (like apiKey:9f86d081884c7d65 or ip:203.0.113.7)`);
  }
  if (values.since !== undefined && (values.since.length > 40 || parseSince(values.since, Date.now()) === null)) {
    throw new UsageError(`--since "${safeCell(values.since)}" is not a time: give a duration back from now (1h), an ISO-8601 date-time of a real day (2025-03-01T12:00:00Z) or epoch ms`);
  }
  if (values.limit !== undefined && !/^\d+$/.test(values.limit)) throw new UsageError('--limit must be a whole number');
  if (values.limit !== undefined && (Number(values.limit) < 1 || Number(values.limit) > 200)) throw new UsageError('--limit must be between 1 and 200');
}

// What the printing below relies on: anything else is not the operator API answering (exit 1, not a crash)
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isReport = (x: unknown): boolean =>
  isObject(x) && typeof x.id === 'string' && typeof x.score === 'number' && isObject(x.action) && isObject(x.window) && Array.isArray(x.history) && isObject(x.detectors);
const isPage = (x: unknown): boolean => isObject(x) && Array.isArray(x.items) && x.items.every(isReport);
const isDetail = (x: unknown): boolean => isObject(x) && isReport(x.report) && isObject(x.evidence) && Array.isArray(x.evidence.features) && Array.isArray(x.overrides);

/** The flags of `anomalies list` the next page needs again: the cursor is a position in the filtered list. */
const LIST_FLAGS = ['status', 'client', 'since', 'limit', 'url', 'token-file', 'as'] as const;

/** The command that prints the next page: the same filters (and analyzer) with the next cursor. */
function nextPageCommand(values: Partial<Record<(typeof LIST_FLAGS)[number], string>>, cursor: string): string {
  const parts = ['ratewarden', 'anomalies', 'list'];
  for (const flag of LIST_FLAGS) {
    const v = values[flag];
    if (v !== undefined) parts.push(`--${flag}`, shellWord(v));
  }
  parts.push('--cursor', shellWord(cursor));
  return parts.join(' ');
}

/** `text` as one shell word: as it is when that is safe, else single-quoted (control characters shown as ?). */
function shellWord(text: string): string {
  const clean = safeCell(text, Number.POSITIVE_INFINITY);
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(clean) ? clean : `'${clean.replace(/'/g, `'\\''`)}'`;
}

function actionText(r: AnomalyReport): string {
  const a = r.action;
  let text = a.kind;
  if (a.kind === 'tighten' && a.multiplier !== undefined) text += ` x${a.multiplier}`;
  if (a.kind !== 'observe') text += a.applied ? '' : ' (not applied)';
  return text;
}

export function showText(d: Detail): string {
  const r = d.report;
  let out = keyValues([
    ['id', r.id],
    ['client', r.client],
    ['tier', r.tier ?? '-'],
    ['service', r.service ?? '-'],
    ['detected', isoTime(r.ts)],
    ['window', `${isoTime(r.window.start)} .. ${isoTime(r.window.end)}`],
    ['score', r.score.toFixed(2)],
    ['detectors', Object.entries(r.detectors).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' ')],
    ['action', `${actionText(r)}${r.action.until ? ` until ${isoTime(r.action.until)}` : ''}`],
    ['status', r.status],
    ['block', d.block ? `${d.block.reason} (${shortDuration(d.block.remainingMs)} left)` : 'none'],
    ['overrides', d.overrides.length ? d.overrides.map((o) => `${o.field} ${o.multiplier !== undefined ? 'x' + o.multiplier : 'limit ' + o.limit} (${shortDuration(o.remainingMs)} left)`).join('; ') : 'none'],
    ['summary', r.summary],
  ]);
  if (d.evidence.features.length) {
    out += '\n' + table(['FEATURE', 'OBSERVED', 'BASELINE', 'SPREAD', 'Z', 'DETECTOR', 'EXPLANATION'], d.evidence.features.map((f) => [f.feature, num(f.observed), num(f.baseline), num(f.spread), f.z.toFixed(1), f.detector ?? '-', f.text ?? '']), 80);
  }
  out += '\n' + table(['WHEN', 'WHO', 'WHAT', 'NOTE'], r.history.map((h) => [isoTime(h.ts), h.who, h.what, h.note ?? '']), 80);
  return out;
}

function num(x: number): string {
  return Math.abs(x) >= 100 ? String(Math.round(x)) : String(Number(x.toFixed(3)));
}
